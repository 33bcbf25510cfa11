// Unmodified etcd v3 clients through the proxy's TLS port: etcdctl (Go,
// clientv3 3.4), python-etcd3 (grpcio), the Node etcd3 client (grpc-js) and
// python-etcd3gw (the JSON gateway). Each authenticates with the proxy's
// htpasswd users, works inside its ACL, is refused outside, and the effect
// is read back from etcd. Also: what each client does when its token dies.
import { readFile } from 'node:fs/promises';
import { connect as connectHttp2 } from 'node:http2';
import { connect as connectTls } from 'node:tls';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEtcd, type EtcdProcess } from '../fixtures/etcd.js';
import { allKeys, etcdctl, python, rawEtcd, type RawEtcd } from '../fixtures/v3-clients.js';
import { startV3Proxy, type V3ProxyFixture } from '../fixtures/v3-proxy.js';

let etcd: EtcdProcess;
let proxy: V3ProxyFixture;
let direct: RawEtcd;
const acls = { '/': ['root'], '/conftool': ['root', 'conftool'] };
const users = { root: 'rootpw', conftool: 'confpw' };

beforeAll(async () => {
  etcd = await startEtcd('v3-clients');
  // Tokens live 2 s from their last use here, so the tests can watch them die.
  proxy = await startV3Proxy({ upstream: etcd.clientUrl, acls, users, tokenTtlMs: 2_000 });
  direct = await rawEtcd({ url: etcd.clientUrl });
});
afterAll(async () => {
  direct?.close();
  await proxy?.close();
  await etcd?.stop();
});

const endpoint = (): { url: string; caCert: string } => ({ url: proxy.url, caCert: proxy.certs.caCert });
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('etcdctl v3 (clientv3 3.4.23)', () => {
  it('puts, gets, watches and runs a transaction with --user', async () => {
    const user = 'conftool:confpw';
    expect((await etcdctl(endpoint(), ['put', '/conftool/ctl', 'one'], { user })).stdout).toContain('OK');
    expect((await etcdctl(endpoint(), ['get', '/conftool/ctl'], { user })).stdout).toBe('/conftool/ctl\none\n');
    const txn = await etcdctl(endpoint(), ['txn', '--interactive'], { user, input: 'value("/conftool/ctl") = "one"\n\nput /conftool/ctl two\n\n\n' });
    expect(txn.stdout).toContain('SUCCESS');
    expect((await allKeys(direct)).get('/conftool/ctl')).toBe('two');
  });

  it('is refused with etcd\'s own messages', async () => {
    const wrong = await etcdctl(endpoint(), ['get', '/conftool/ctl'], { user: 'conftool:nope' });
    expect(wrong.stderr).toContain('etcdserver: authentication failed, invalid user ID or password');
    const outside = await etcdctl(endpoint(), ['put', '/elsewhere', 'x'], { user: 'conftool:confpw' });
    expect(outside.stderr).toContain('etcdserver: permission denied');
  });

  it('authenticates again by itself when its token has expired mid-command', async () => {
    // txn --interactive authenticates first, then reads stdin: answer after the token's 2 s.
    const { spawn } = await import('node:child_process');
    const child = spawn('etcdctl', [`--endpoints=${proxy.url}`, `--cacert=${proxy.certs.caCert}`, '--user=conftool:confpw', 'txn', '--interactive'], { env: { ...process.env, ETCDCTL_API: '3' } });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    await sleep(3_500);
    child.stdin.end('\nput /conftool/late yes\n\n\n');
    const code = await new Promise((resolve) => child.on('exit', resolve));
    expect(output).toContain('etcdserver: invalid auth token');
    expect(code).toBe(0);
    expect((await allKeys(direct)).get('/conftool/late')).toBe('yes');
  });

  it('anonymous health and member checks work, as they do against etcd', async () => {
    expect((await etcdctl(endpoint(), ['endpoint', 'health'])).code).toBe(0);
    expect((await etcdctl(endpoint(), ['member', 'list'])).stdout).toContain(etcd.clientUrl);
  });
});

describe('python-etcd3 (Debian python3-etcd3, grpcio)', () => {
  const script = (body: string): string => `
import etcd3, sys, time
c = etcd3.client(host='127.0.0.1', port=${proxy.port}, ca_cert='${proxy.certs.caCert}', user='conftool', password='confpw')
${body}
`;

  it('puts, gets, watches and uses a lease with user and password', async () => {
    const result = await python(script(`
c.put('/conftool/py', 'one')
print(c.get('/conftool/py')[0].decode())
lease = c.lease(60)
c.put('/conftool/py-leased', 'x', lease=lease)
print(sorted(k.decode() for k in lease.keys))
events, cancel = c.watch('/conftool/py')
c.put('/conftool/py', 'two')
for event in events:
    print('event', event.value.decode())
    break
cancel()
try:
    c.put('/elsewhere', 'x')
except Exception as error:
    print('refused', error.code(), error.details())
`));
    expect(result.stderr).toBe('');
    expect(result.stdout.split('\n')).toEqual(['one', "['/conftool/py-leased']", 'event two', 'refused StatusCode.PERMISSION_DENIED etcdserver: permission denied', '']);
    expect((await allKeys(direct)).get('/conftool/py')).toBe('two');
  });

  it('keeps its token while it is used, and does not authenticate again once it expired (as against etcd)', async () => {
    const result = await python(script(`
for i in range(3):
    c.get('/conftool/py'); time.sleep(1)
print('alive after 3 s of use')
time.sleep(3)
try:
    c.get('/conftool/py')
except Exception as error:
    print('after 3 s idle:', error.details())
`));
    expect(result.stdout).toBe('alive after 3 s of use\nafter 3 s idle: etcdserver: invalid auth token\n');
  });
});

describe('the Node etcd3 client (grpc-js)', () => {
  it('works with auth, is refused outside its ACL, and re-authenticates when its token expired', async () => {
    const client = new Etcd3({ hosts: proxy.url, credentials: { rootCertificate: await readFile(proxy.certs.caCert) }, auth: { username: 'conftool', password: 'confpw' } });
    try {
      await client.put('/conftool/node').value('one');
      await sleep(2_500);
      await client.put('/conftool/node').value('after expiry');
      await expect(client.put('/elsewhere').value('x')).rejects.toThrow('etcdserver: permission denied');
      const watcher = await client.watch().key('/conftool/node').create();
      const seen = new Promise<string>((resolve) => watcher.on('put', (kv) => resolve(kv.value.toString())));
      await client.put('/conftool/node').value('watched');
      expect(await seen).toBe('watched');
      await watcher.cancel();
    } finally {
      client.close();
    }
    expect((await allKeys(direct)).get('/conftool/node')).toBe('watched');
  });
});

describe('python-etcd3gw (the JSON gateway)', () => {
  it('works with HTTP basic auth on /v3beta, and with a token from /v3/auth/authenticate', async () => {
    const result = await python(`
import requests
from etcd3gw.client import Etcd3Client
c = Etcd3Client(host='127.0.0.1', port=${proxy.port}, protocol='https', ca_cert='${proxy.certs.caCert}', api_path='/v3beta/')
c.session.auth = ('conftool', 'confpw')
c.put('/conftool/gw', 'one')
print(c.get('/conftool/gw')[0])
try:
    c.put('/elsewhere', 'x')
except Exception as error:
    print('refused', type(error).__name__)
token = requests.post('${proxy.url}/v3/auth/authenticate', json={'name': 'conftool', 'password': 'confpw'}, verify='${proxy.certs.caCert}').json()['token']
t = Etcd3Client(host='127.0.0.1', port=${proxy.port}, protocol='https', ca_cert='${proxy.certs.caCert}', api_path='/v3/')
t.session.headers['Authorization'] = token
t.put('/conftool/gw', 'two')
print(c.get('/conftool/gw')[0])
`);
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe("b'one'\nrefused Etcd3Exception\nb'two'\n");
    expect((await allKeys(direct)).get('/conftool/gw')).toBe('two');
  });
});

describe('one TLS port, two protocols', () => {
  async function negotiated(protocols: string[]): Promise<string | false> {
    const socket = connectTls({ host: '127.0.0.1', port: proxy.port, ca: await readFile(proxy.certs.caCert), ALPNProtocols: protocols, servername: 'localhost' });
    return new Promise((resolve, reject) => {
      socket.on('secureConnect', () => {
        resolve(socket.alpnProtocol ?? false);
        socket.destroy();
      });
      socket.on('error', reject);
    });
  }

  it('gives h2 to a client offering only h2 (every gRPC client), HTTP/1.1 to one offering both (curl)', async () => {
    expect(await negotiated(['h2'])).toBe('h2');
    expect(await negotiated(['h2', 'http/1.1'])).toBe('http/1.1');
    expect(await negotiated(['http/1.1'])).toBe('http/1.1');
  });

  it('answers a plain HTTP/2 request that is not gRPC with 415 and where to go instead', async () => {
    const session = connectHttp2(proxy.url, { ca: await readFile(proxy.certs.caCert) });
    const answer = await new Promise<{ status: unknown; body: string }>((resolve) => {
      const stream = session.request({ ':path': '/v2/keys/' });
      let body = '';
      let status: unknown;
      stream.on('response', (headers) => (status = headers[':status']));
      stream.on('data', (chunk: Buffer) => (body += chunk.toString()));
      stream.on('end', () => resolve({ status, body }));
    });
    session.close();
    expect(answer.status).toBe(415);
    expect(answer.body).toContain('HTTP/1.1');
  });
});
