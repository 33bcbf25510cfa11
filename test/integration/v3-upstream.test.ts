// The proxy's side towards etcd and the wire limits: an https etcd verified
// with its CA, etcd going away and coming back, plain-TCP serving (h2c and
// HTTP/1.1 on one port), message size bounds, and what the access log gets.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCertificates, type TestCertificates } from '../fixtures/certs.js';
import { startEtcd, type EtcdProcess } from '../fixtures/etcd.js';
import { allKeys, b64, basic, etcdctl, gatewayPost, rawEtcd, tokenFor } from '../fixtures/v3-clients.js';
import { startV3Proxy, type V3ProxyFixture } from '../fixtures/v3-proxy.js';
import { useV3ProxiedEtcd } from '../fixtures/v3-proxied-etcd.js';

const acls = { '/': ['root'], '/conftool': ['root', 'conftool'] };
const users = { root: 'rootpw', conftool: 'confpw' };
const conftool = 'conftool:confpw';

describe('an https etcd, verified with its CA', () => {
  let certs: TestCertificates;
  let etcd: EtcdProcess;
  let proxy: V3ProxyFixture;

  beforeAll(async () => {
    certs = await makeCertificates();
    etcd = await startEtcd('v3-tls-upstream', { tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.ca } });
    proxy = await startV3Proxy({ upstream: etcd.clientUrl, upstreamCa: certs.caCert, acls, users, certs });
  });
  afterAll(async () => {
    await proxy?.close();
    await etcd?.stop();
  });

  it('carries gRPC and the gateway to it', async () => {
    const endpoint = { url: proxy.url, caCert: proxy.certs.caCert };
    expect((await etcdctl(endpoint, ['put', '/conftool/tls', 'grpc'], { user: conftool })).stdout).toContain('OK');
    expect((await gatewayPost(endpoint, '/v3/kv/range', `{"key":"${b64('/conftool/tls')}"}`)).body).toContain(b64('grpc'));
  });
});

describe('etcd going away and coming back', () => {
  let etcd: EtcdProcess;
  let proxy: V3ProxyFixture;

  beforeAll(async () => {
    etcd = await startEtcd('v3-restart');
    proxy = await startV3Proxy({ upstream: etcd.clientUrl, acls, users });
  });
  afterAll(async () => {
    await proxy?.close();
    await etcd?.stop();
  });

  it('ends open watches with UNAVAILABLE, answers UNAVAILABLE while etcd is down, and reconnects once it is back', async () => {
    const endpoint = { url: proxy.url, caCert: proxy.certs.caCert };
    const client = await rawEtcd(endpoint);
    const watch = client.stream('Watch', 'Watch');
    const created = new Promise((resolve) => watch.once('data', resolve));
    const ended = new Promise<{ code?: number }>((resolve) => watch.on('error', resolve));
    watch.write({ create_request: { key: Buffer.from('/conftool/w') } });
    await created;
    await etcd.pause();
    expect((await ended).code).toBe(14);
    const down = await etcdctl(endpoint, ['get', '/conftool/w']);
    expect(down.code).not.toBe(0);
    expect(down.stderr).toContain('etcd-warden');
    await etcd.resume();
    expect((await etcdctl(endpoint, ['put', '/conftool/w', 'back'], { user: conftool })).stdout).toContain('OK');
    client.close();
  });
});

describe('plain TCP: h2c and HTTP/1.1 on one port', () => {
  let etcd: EtcdProcess;
  let proxy: V3ProxyFixture;

  beforeAll(async () => {
    etcd = await startEtcd('v3-plain');
    proxy = await startV3Proxy({ upstream: etcd.clientUrl, acls, users, plain: true });
  });
  afterAll(async () => {
    await proxy?.close();
    await etcd?.stop();
  });

  it('serves etcdctl (gRPC with prior knowledge) and the JSON gateway on the same port', async () => {
    const endpoint = { url: proxy.url };
    const put = await etcdctl(endpoint, ['put', '/conftool/plain', 'h2c'], { user: conftool });
    expect(put.stdout + put.stderr).toContain('OK');
    const answer = await gatewayPostPlain(proxy.url, '/v3/kv/put', `{"key":"${b64('/conftool/plain')}","value":"${b64('http1')}"}`, basic('conftool', 'confpw'));
    expect(answer).toBe(200);
    expect((await etcdctl(endpoint, ['get', '/conftool/plain', '--print-value-only'])).stdout).toBe('http1\n');
  });
});

async function gatewayPostPlain(url: string, path: string, body: string, headers: Record<string, string>): Promise<number> {
  const { request } = await import('node:http');
  return new Promise((resolve, reject) => {
    const sent = request(new URL(path, url), { method: 'POST', headers }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
    });
    sent.on('error', reject);
    sent.end(body);
  });
}

describe('message sizes', () => {
  const v3 = useV3ProxiedEtcd('v3-sizes', { acls, users });

  it('refuses a request message above etcd\'s own limit (1.5 MiB + 512 KiB) before reading it, with gRPC\'s words', async () => {
    const endpoint = { url: v3.proxy.url, caCert: v3.proxy.certs.caCert };
    const client = await rawEtcd(endpoint, await tokenFor(endpoint, 'conftool', 'confpw'));
    try {
      await expect(client.unary('KV', 'Put', { key: Buffer.from('/conftool/big'), value: Buffer.alloc(2.5 * 1024 * 1024) })).rejects.toMatchObject({
        code: 8,
        details: expect.stringContaining('grpc: received message larger than max'),
      });
    } finally {
      client.close();
    }
    expect((await allKeys(v3.direct)).has('/conftool/big')).toBe(false);
  });

  it('passes a watch response far above 4 MiB through whole (etcd packs catch-up revisions in one)', async () => {
    const first = await v3.direct.unary('KV', 'Put', { key: Buffer.from('/conftool/large'), value: Buffer.alloc(1024 * 1024, 1) });
    for (let i = 0; i < 6; i++) await v3.direct.unary('KV', 'Put', { key: Buffer.from('/conftool/large'), value: Buffer.alloc(1024 * 1024, 2 + i) });
    const client = await rawEtcd({ url: v3.proxy.url, caCert: v3.proxy.certs.caCert });
    const watch = client.stream('Watch', 'Watch');
    watch.on('error', () => undefined);
    const events: number[] = [];
    const allSeen = new Promise<void>((resolve) => {
      watch.on('data', (response: { events?: { kv: { value: Buffer } }[] }) => {
        for (const event of response.events ?? []) events.push(event.kv.value.length);
        if (events.length >= 7) resolve();
      });
    });
    watch.write({ create_request: { key: Buffer.from('/conftool/large'), start_revision: (first.header as { revision: string }).revision } });
    await allSeen;
    expect(events).toEqual(Array.from({ length: 7 }, () => 1024 * 1024));
    watch.cancel();
    client.close();
  });

  it('leaves one access line per call: gRPC method, user, decision, status, the keys decided on', async () => {
    const endpoint = { url: v3.proxy.url, caCert: v3.proxy.certs.caCert };
    await etcdctl(endpoint, ['put', '/elsewhere', 'x'], { user: conftool });
    const line = await v3.proxy.process.waitForLog((l) => l.msg === 'request' && l.method === 'KV/Put' && l.key === '/elsewhere');
    expect(line).toMatchObject({ protocol: 'grpc', method: 'KV/Put', user: 'conftool', decision: 'denied-acl', status: 'PERMISSION_DENIED', key: '/elsewhere', watch: false });
    expect(line.reason).toContain('may not write');
  });
});
