// Hostile bytes on the gRPC side: random messages to every etcd method,
// frames that lie about their length, a stream reset mid-message. Each gets
// a gRPC status (or nothing, if the client left), nothing changes in etcd
// that the caller could not change, and the proxy keeps serving.
import { connect } from 'node:http2';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEtcd, type EtcdProcess } from '../fixtures/etcd.js';
import { allKeys, etcdctl, rawEtcd, rawGrpcCall, type RawEtcd } from '../fixtures/v3-clients.js';
import { startV3Proxy, type V3ProxyFixture } from '../fixtures/v3-proxy.js';
import { encodeFrame } from '../../proxy/v3/frames.js';
import { etcdMethods } from '../../proxy/v3/methods.js';
import { seededRandom } from './proxy-fuzz-generator.js';

let etcd: EtcdProcess;
let proxy: V3ProxyFixture;
let direct: RawEtcd;

beforeAll(async () => {
  etcd = await startEtcd('v3-hostile');
  // Anonymous callers may write nothing but /open.
  proxy = await startV3Proxy({ upstream: etcd.clientUrl, acls: { '/': ['root'], '/open': [] }, users: { root: 'rootpw' } });
  direct = await rawEtcd({ url: etcd.clientUrl });
  await direct.unary('KV', 'Put', { key: Buffer.from('/kept'), value: Buffer.from('kept') });
});
afterAll(async () => {
  direct?.close();
  await proxy?.close();
  await etcd?.stop();
});

const endpoint = (): { url: string; caCert: string } => ({ url: proxy.url, caCert: proxy.certs.caCert });

describe('hostile gRPC input', () => {
  it('random messages to every method get a status, change nothing outside /open, and the proxy keeps serving', async () => {
    const random = seededRandom(Number(process.env.FUZZ_SEED ?? 4242));
    const paths = [...etcdMethods().byPath.keys()];
    for (const path of paths) {
      for (let i = 0; i < 8; i++) {
        const message = Buffer.from(Array.from({ length: Math.floor(random() * 64) }, () => Math.floor(random() * 256)));
        const answer = await rawGrpcCall(endpoint(), path, encodeFrame(message));
        expect(answer.status, `${path} ${message.toString('hex')}`).toMatch(/^\d+$/);
      }
    }
    const keys = await allKeys(direct);
    for (const key of keys.keys()) expect(key === '/kept' || key.startsWith('/open/') || key === '/open', key).toBe(true);
    expect(keys.get('/kept')).toBe('kept');
    expect((await etcdctl(endpoint(), ['get', '/kept', '--print-value-only'])).stdout).toBe('kept\n');
  });

  it('a frame claiming more bytes than it sends, then a reset, leaves nothing behind', async () => {
    const session = connect(proxy.url, { ca: await readFile(proxy.certs.caCert) });
    const stream = session.request({ ':method': 'POST', ':path': '/etcdserverpb.KV/Put', 'content-type': 'application/grpc', te: 'trailers' });
    stream.on('error', () => undefined);
    const header = Buffer.from([0, 0, 0, 0x10, 0]);
    stream.write(Buffer.concat([header, Buffer.from('partial')]));
    await new Promise((resolve) => setTimeout(resolve, 100));
    stream.close();
    session.close();
    const answer = await rawGrpcCall(endpoint(), '/etcdserverpb.KV/Range', encodeFrame(etcdMethods().byPath.get('/etcdserverpb.KV/Range')?.requestType.encode({ key: Buffer.from('/kept') }).finish() ?? new Uint8Array()));
    expect(answer.status).toBe('0');
  });
});
