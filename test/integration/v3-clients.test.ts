// Unmodified etcd clients through the real proxy's one TLS port, deployed as
// production runs it (etcd advertises the proxy: member.ts): etcdctl v3
// (Go, clientv3 3.4), python-etcd3 (grpcio), the Node etcd3 client
// (grpc-js) and python-etcd3gw (the JSON gateway), while curl and
// python-etcd keep using v2 on the same port. Each authenticates with the
// proxy's htpasswd users, works inside its ACL, is refused outside, and the
// effect is read back from etcd. Also: what each client does when its token
// dies.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { connect as connectHttp2 } from 'node:http2';
import { connect as connectTls } from 'node:tls';
import { promisify } from 'node:util';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCertificates, type TestCertificates } from '../fixtures/certs.js';
import { clientScript, debianPython, jsonLines, runClient } from '../fixtures/clients.js';
import { startProxiedMember, type ProxiedMember } from '../fixtures/member.js';
import { allKeys, etcdctl, python, rawEtcd, type RawEtcd } from '../fixtures/v3-clients.js';
import { shaLine } from '../fixtures/v3-proxy.js';

let member: ProxiedMember;
let certs: TestCertificates;
let direct: RawEtcd;

beforeAll(async () => {
  certs = await makeCertificates();
  member = await startProxiedMember('v3-clients', {
    tls: { cert: certs.serverCert, key: certs.serverKey },
    htpasswd: [shaLine('root', 'rootpw'), shaLine('conftool', 'confpw')],
    // Tokens live 2 s from their last use here, so the tests can watch them die.
    config: { acls: { '/': ['root'], '/conftool': ['root', 'conftool'] }, v3: { tokenTtlMs: 2_000 } },
  });
  direct = await rawEtcd({ url: member.etcd.clientUrl });
});
afterAll(async () => {
  direct?.close();
  await member?.stop();
});

const proxy = (): { url: string; port: number; certs: TestCertificates } => ({ url: member.url, port: Number(new URL(member.url).port), certs });
const endpoint = (): { url: string; caCert: string } => ({ url: member.url, caCert: certs.caCert });
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
    const child = spawn('etcdctl', [`--endpoints=${proxy().url}`, `--cacert=${proxy().certs.caCert}`, '--user=conftool:confpw', 'txn', '--interactive'], { env: { ...process.env, ETCDCTL_API: '3' } });
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

  it('anonymous health and member checks work, and the member list names the proxy, as etcd advertises it', async () => {
    expect((await etcdctl(endpoint(), ['endpoint', 'health'])).code).toBe(0);
    expect((await etcdctl(endpoint(), ['member', 'list'])).stdout).toContain(member.url);
  });
});

describe('python-etcd3 (Debian python3-etcd3, grpcio)', () => {
  const script = (body: string): string => `
import etcd3, sys, time
c = etcd3.client(host='127.0.0.1', port=${proxy().port}, ca_cert='${proxy().certs.caCert}', user='conftool', password='confpw')
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
    const client = new Etcd3({ hosts: proxy().url, credentials: { rootCertificate: await readFile(proxy().certs.caCert) }, auth: { username: 'conftool', password: 'confpw' } });
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
c = Etcd3Client(host='127.0.0.1', port=${proxy().port}, protocol='https', ca_cert='${proxy().certs.caCert}', api_path='/v3beta/')
c.session.auth = ('conftool', 'confpw')
c.put('/conftool/gw', 'one')
print(c.get('/conftool/gw')[0])
try:
    c.put('/elsewhere', 'x')
except Exception as error:
    print('refused', type(error).__name__)
token = requests.post('${proxy().url}/v3/auth/authenticate', json={'name': 'conftool', 'password': 'confpw'}, verify='${proxy().certs.caCert}').json()['token']
t = Etcd3Client(host='127.0.0.1', port=${proxy().port}, protocol='https', ca_cert='${proxy().certs.caCert}', api_path='/v3/')
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
    const socket = connectTls({ host: '127.0.0.1', port: proxy().port, ca: await readFile(proxy().certs.caCert), ALPNProtocols: protocols, servername: 'localhost' });
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
    const session = connectHttp2(proxy().url, { ca: await readFile(proxy().certs.caCert) });
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

describe('v2 on the same TLS port', () => {
  it('curl and python-etcd write and read v2 keys through it, refused outside their ACL', async () => {
    const run = promisify(execFile);
    const curl = (...args: string[]): Promise<{ stdout: string }> => run('curl', ['-sS', '--cacert', certs.caCert, ...args]);
    expect(JSON.parse((await curl('-XPUT', `${member.url}/v2/keys/conftool/curl`, '-d', 'value=v2', '-u', 'conftool:confpw')).stdout)).toMatchObject({ action: 'set' });
    expect(JSON.parse((await curl('-XPUT', `${member.url}/v2/keys/elsewhere`, '-d', 'value=v2', '-u', 'conftool:confpw')).stdout)).toMatchObject({ errorCode: 110 });
    const plan = [
      { name: 'write', call: 'write', args: ['/conftool/python-etcd', 'from python-etcd'] },
      { name: 'read', call: 'read', args: ['/conftool/curl'] },
      { name: 'refused', call: 'write', args: ['/elsewhere', 'x'] },
    ];
    const result = await runClient(debianPython, [clientScript('python_etcd.py'), member.url, JSON.stringify(plan), '--ca', certs.caCert, '--user', 'conftool', '--password', 'confpw']);
    const lines = jsonLines(result.stdout) as { name: string; result?: { value?: string }; raised?: string }[];
    expect(lines.map((line) => [line.name, line.result?.value ?? line.raised])).toEqual([['write', 'from python-etcd'], ['read', 'v2'], ['refused', 'EtcdInsufficientPermissions']]);
    const v2 = JSON.parse((await curl(`${member.url}/v2/keys/conftool/python-etcd`)).stdout) as { node: { value: string } };
    expect(v2.node.value).toBe('from python-etcd');
  });
});
