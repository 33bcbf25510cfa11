// Hostile bytes on the gRPC side: random messages to every etcd method,
// frames that lie about their length, a stream reset mid-message. Each gets
// a gRPC status (or nothing, if the client left), nothing changes in etcd
// that the caller could not change, and the proxy keeps serving.
import { connect } from 'node:http2';
import { readFile } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { allKeys, etcdctl, rawGrpcCall } from '../fixtures/v3-clients.js';
import { useV3ProxiedEtcd } from '../fixtures/v3-proxied-etcd.js';
import { encodeFrame } from '../../proxy/v3/frames.js';
import { etcdMethods } from '../../proxy/v3/methods.js';
import { seededRandom } from './proxy-fuzz-generator.js';

// Anonymous callers may write nothing but /open.
const v3 = useV3ProxiedEtcd('v3-hostile', { acls: { '/': ['root'], '/open': [] }, users: { root: 'rootpw' } });
beforeAll(async () => {
  await v3.direct.unary('KV', 'Put', { key: Buffer.from('/kept'), value: Buffer.from('kept') });
});

const endpoint = (): { url: string; caCert: string } => ({ url: v3.proxy.url, caCert: v3.proxy.certs.caCert });

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
    const keys = await allKeys(v3.direct);
    for (const key of keys.keys()) expect(key === '/kept' || key.startsWith('/open/') || key === '/open', key).toBe(true);
    expect(keys.get('/kept')).toBe('kept');
    expect((await etcdctl(endpoint(), ['get', '/kept', '--print-value-only'])).stdout).toBe('kept\n');
  });

  it('a frame claiming more bytes than it sends, then a reset, leaves nothing behind', async () => {
    const session = connect(v3.proxy.url, { ca: await readFile(v3.proxy.certs.caCert) });
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
