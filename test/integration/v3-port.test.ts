// The proxy's one TLS port keeps v2's limits for gRPC too: the connection
// cap counts HTTP/2 connections from accept, client certificates are asked
// of gRPC clients, a reloaded certificate is served to new HTTP/2
// connections, idle HTTP/2 connections are closed like idle keep-alive ones
// (never one with a watch open), and header limits hold on HTTP/2.
import { copyFile, readFile } from 'node:fs/promises';
import { connect as connectHttp2, type ClientHttp2Session } from 'node:http2';
import { connect as connectTls, type TLSSocket } from 'node:tls';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCertificates, type TestCertificates } from '../fixtures/certs.js';
import { makeClientCertificates, type ClientCertificates } from '../fixtures/client-certs.js';
import { startEtcd, type EtcdProcess } from '../fixtures/etcd.js';
import { allKeys, grpcCode, rawEtcd, rawGrpcCall, type RawEtcd } from '../fixtures/v3-clients.js';
import { startV3Proxy, type V3ProxyFixture } from '../fixtures/v3-proxy.js';
import { encodeFrame } from '../../proxy/v3/frames.js';
import { etcdMethods } from '../../proxy/v3/methods.js';

const acls = { '/': ['root'], '/open': [] };
const users = { root: 'rootpw' };

let etcd: EtcdProcess;
let direct: RawEtcd;
beforeAll(async () => {
  etcd = await startEtcd('v3-port');
  direct = await rawEtcd({ url: etcd.clientUrl });
});
afterAll(async () => {
  direct?.close();
  await etcd?.stop();
});

/** A proxy for the tests of the enclosing block; `config` and `certs` are read when it starts. */
function useProxy(config: () => Record<string, unknown>, certs?: () => TestCertificates): () => V3ProxyFixture {
  let proxy: V3ProxyFixture | undefined;
  beforeAll(async () => {
    const given = certs?.();
    proxy = await startV3Proxy({ upstream: etcd.clientUrl, acls, users, config: config(), ...(given === undefined ? {} : { certs: given }) });
  });
  afterAll(async () => {
    await proxy?.close();
  });
  return () => {
    if (proxy === undefined) throw new Error('no proxy outside its tests');
    return proxy;
  };
}

/** A TLS connection that offers only h2, as gRPC clients do. */
async function h2Socket(proxy: V3ProxyFixture, extra: { rejectUnauthorized?: boolean } = {}): Promise<TLSSocket> {
  const socket = connectTls({ host: '127.0.0.1', port: proxy.port, ca: await readFile(proxy.certs.caCert), ALPNProtocols: ['h2'], servername: 'localhost', ...extra });
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', () => resolve());
    socket.once('error', reject);
  });
  return socket;
}

const putRequest = (key: string): Buffer => {
  const type = etcdMethods().byPath.get('/etcdserverpb.KV/Put')?.requestType;
  if (type === undefined) throw new Error('no Put');
  return encodeFrame(type.encode({ key: Buffer.from(key), value: Buffer.from('x') }).finish());
};

describe('limits.maxConnections', () => {
  const proxy = useProxy(() => ({ limits: { maxConnections: 2 } }));

  it('counts HTTP/2 connections from accept: a gRPC call over the cap gets UNAVAILABLE, and works once a connection closes', async () => {
    const held = [await h2Socket(proxy()), await h2Socket(proxy())];
    const over = await rawEtcd({ url: proxy().url, caCert: proxy().certs.caCert });
    const refused = await over.unary('KV', 'Put', { key: Buffer.from('/open/over-cap'), value: Buffer.from('x') }).catch((error: unknown) => error);
    over.close();
    expect(grpcCode(refused)).toBe(14);
    expect((refused as { details?: string }).details).toContain('too many connections');
    expect((await allKeys(direct)).has('/open/over-cap')).toBe(false);
    held[0]?.destroy();
    await new Promise((resolve) => setTimeout(resolve, 200));
    const after = await rawEtcd({ url: proxy().url, caCert: proxy().certs.caCert });
    await after.unary('KV', 'Put', { key: Buffer.from('/open/under-cap'), value: Buffer.from('x') });
    after.close();
    held[1]?.destroy();
    expect((await allKeys(direct)).get('/open/under-cap')).toBe('x');
  });
});

describe('tls.clientCa', () => {
  let certs: TestCertificates;
  let clientCerts: ClientCertificates;
  beforeAll(async () => {
    certs = await makeCertificates();
    clientCerts = await makeClientCertificates(certs);
  });
  const proxy = useProxy(() => ({ tls: { cert: certs.serverCert, key: certs.serverKey, clientCa: certs.caCert } }), () => certs);

  it('is asked of gRPC clients too: none or a stranger\'s gets no call through, a trusted one does', async () => {
    const node = (certificate?: { cert: Buffer; key: Buffer }): Etcd3 =>
      new Etcd3({ hosts: proxy().url, credentials: { rootCertificate: certs.ca, ...(certificate === undefined ? {} : { certChain: certificate.cert, privateKey: certificate.key }) } });
    for (const certificate of [undefined, clientCerts.stranger]) {
      const client = node(certificate);
      await expect(client.put('/open/no-cert').value('x')).rejects.toThrow();
      client.close();
    }
    const trusted = node(clientCerts.trusted);
    await trusted.put('/open/trusted').value('x');
    trusted.close();
    const stored = await allKeys(direct);
    expect(stored.has('/open/no-cert')).toBe(false);
    expect(stored.get('/open/trusted')).toBe('x');
  });
});

describe('certificate reload', () => {
  let certs: TestCertificates;
  beforeAll(async () => {
    certs = await makeCertificates();
  });
  const proxy = useProxy(() => ({}), () => certs);

  it('serves a new certificate to new HTTP/2 connections after SIGHUP, while an open watch keeps going', async () => {
    const serial = async (): Promise<string> => {
      // The new certificate comes from another test CA: only its serial matters here.
      const socket = await h2Socket(proxy(), { rejectUnauthorized: false });
      expect(socket.alpnProtocol).toBe('h2');
      const value = socket.getPeerCertificate().serialNumber;
      socket.destroy();
      return value;
    };
    const before = await serial();
    const watcher = await rawEtcd({ url: proxy().url, caCert: proxy().certs.caCert });
    const stream = watcher.stream('Watch', 'Watch');
    const values: string[] = [];
    stream.on('data', (response: { events?: { kv: { value: Buffer } }[] }) => values.push(...(response.events ?? []).map((event) => event.kv.value.toString())));
    stream.on('error', () => undefined);
    stream.write({ create_request: { key: Buffer.from('/open/cert') } });
    // Another certificate from the same CA, in the files the config names.
    const other = await makeCertificates();
    await copyFile(other.serverCert, certs.serverCert);
    await copyFile(other.serverKey, certs.serverKey);
    await proxy().reconfigure({});
    expect(await serial()).not.toBe(before);
    await direct.unary('KV', 'Put', { key: Buffer.from('/open/cert'), value: Buffer.from('after the new certificate') });
    await until(() => values.includes('after the new certificate'), 'the open watch to get the next event');
    stream.cancel();
    watcher.close();
  });
});

describe('idle HTTP/2 connections', () => {
  const proxy = useProxy(() => ({ timeouts: { clientKeepAliveMs: 1_000 } }));

  const session = async (): Promise<{ session: ClientHttp2Session; goaway: Promise<void> }> => {
    const opened = connectHttp2(proxy().url, { ca: await readFile(proxy().certs.caCert) });
    opened.on('error', () => undefined);
    return { session: opened, goaway: new Promise((resolve) => opened.once('goaway', () => resolve())) };
  };

  it('closes one with no call open after timeouts.clientKeepAliveMs (GOAWAY), never one with a watch open', async () => {
    const idle = await session();
    await idle.goaway;
    const watching = await session();
    const stream = watching.session.request({ ':method': 'POST', ':path': '/etcdserverpb.Watch/Watch', 'content-type': 'application/grpc', te: 'trailers' });
    const type = etcdMethods().byPath.get('/etcdserverpb.Watch/Watch')?.requestType;
    if (type === undefined) throw new Error('no Watch');
    stream.write(encodeFrame(type.encode({ create_request: { key: Buffer.from('/open/idle') } }).finish()));
    let received = 0;
    stream.on('data', () => (received += 1));
    let closed = false;
    void watching.goaway.then(() => (closed = true));
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    await direct.unary('KV', 'Put', { key: Buffer.from('/open/idle'), value: Buffer.from('x') });
    await until(() => received >= 2, 'the watch to be created and told of the write');
    expect(closed).toBe(false);
    watching.session.destroy();
    idle.session.destroy();
  });
});

describe('header limits on HTTP/2', () => {
  const proxy = useProxy(() => ({ limits: { maxHeaderCount: 20 } }));

  it('refuses a call with more header fields than limits.maxHeaderCount, and nothing reaches etcd', async () => {
    const metadata = Object.fromEntries(Array.from({ length: 30 }, (_unused, i) => [`x-filler-${i}`, 'y']));
    const answer = await rawGrpcCall({ url: proxy().url, caCert: proxy().certs.caCert }, '/etcdserverpb.KV/Put', putRequest('/open/headers'), metadata).catch((error: unknown) => error);
    expect(answer).not.toMatchObject({ status: '0' });
    expect((await allKeys(direct)).has('/open/headers')).toBe(false);
    const fine = await rawGrpcCall({ url: proxy().url, caCert: proxy().certs.caCert }, '/etcdserverpb.KV/Put', putRequest('/open/headers-ok'), { 'x-filler': 'y' });
    expect(fine.status).toBe('0');
  });
});

async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
