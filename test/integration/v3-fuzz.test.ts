// Differential fuzz of the v3 proxy: thousands of seeded requests as a
// limited user, through the proxy to etcd A and, when the proxy let them
// through, straight to etcd B (same seed, same history). Checked:
//   - nothing the user may not write changes in A (an independent oracle),
//   - nothing the user may not read comes back, in answers or watch events,
//   - every allowed request answers as etcd does directly, and A and B hold
//     the same keys, values, revisions and leases throughout.
// FUZZ_SEED / FUZZ_COUNT change the run; a failure names the request index.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEtcd, type EtcdProcess } from '../fixtures/etcd.js';
import { rawEtcd, tokenFor, type RawEtcd } from '../fixtures/v3-clients.js';
import { startV3Proxy, type V3ProxyFixture } from '../fixtures/v3-proxy.js';
import { fuzzerMayRead, fuzzerMayWrite, fuzzRequests, seededLeases, type FuzzRequest } from './v3-fuzz-generator.js';

const seed = Number(process.env.FUZZ_SEED ?? 20_261_201);
const count = Number(process.env.FUZZ_COUNT ?? 3_000);

let etcdA: EtcdProcess;
let etcdB: EtcdProcess;
let proxy: V3ProxyFixture;

beforeAll(async () => {
  [etcdA, etcdB] = await Promise.all([startEtcd('v3-fuzz-a'), startEtcd('v3-fuzz-b')]);
  proxy = await startV3Proxy({
    upstream: etcdA.clientUrl,
    acls: { '/': ['root'], '/pub': ['fuzzer', 'root'], '/pub/locked': ['root'], '/open': [] },
    readAcls: { '/pub/secret': ['root'], '/hidden': ['root'] },
    users: { root: 'rootpw', fuzzer: 'fuzzpw' },
  });
});
afterAll(async () => {
  await proxy?.close();
  await Promise.all([etcdA?.stop(), etcdB?.stop()]);
});

const seedKeys = ['/pub', '/pub/a', '/pub/b/c', '/pub/locked', '/pub/locked/x', '/pub/secret/s', '/pubx', '/pub0', '/pub.x', '/open/o', '/hidden/h', '/other', 'noslash', '\0', '\xff'];

async function seedCluster(client: RawEtcd): Promise<void> {
  for (const key of seedKeys) await client.unary('KV', 'Put', { key: Buffer.from(key, 'latin1'), value: Buffer.from(`seed ${key}`, 'latin1') });
  for (const id of Object.values(seededLeases)) await client.unary('Lease', 'LeaseGrant', { ID: id, TTL: '3600' });
  const attach = { [seededLeases.fuzzer]: '/pub/leased', [seededLeases.root]: '/pub/locked/leased', [seededLeases.hidden]: '/hidden/leased' };
  for (const [lease, key] of Object.entries(attach)) await client.unary('KV', 'Put', { key: Buffer.from(key), value: Buffer.from('leased'), lease });
}

type Outcome = { ok: true; response: unknown } | { ok: false; code: number | undefined; message: string };

async function send(client: RawEtcd, request: FuzzRequest): Promise<Outcome> {
  try {
    if (request.kind === 'unary') return { ok: true, response: await client.unary(request.service, request.method, request.request) };
    if (request.kind === 'keepalive') return await oneStreamAnswer(client, 'Lease', 'LeaseKeepAlive', { ID: request.lease });
    return await oneStreamAnswer(client, 'Watch', 'Watch', request.request);
  } catch (error) {
    const failure = error as { code?: number; details?: string; message: string };
    return { ok: false, code: failure.code, message: failure.details ?? failure.message };
  }
}

/** Sends one message on a fresh stream and takes the first answer (or the stream's error). */
function oneStreamAnswer(client: RawEtcd, service: string, method: string, message: Record<string, unknown>): Promise<Outcome> {
  return new Promise((resolve) => {
    const stream = client.stream(service, method);
    stream.once('data', (response: unknown) => {
      resolve({ ok: true, response });
      stream.cancel();
    });
    stream.on('error', (error: { code?: number; details?: string; message: string }) => resolve({ ok: false, code: error.code, message: error.details ?? error.message }));
    stream.write(message);
  });
}

/** Answers without what differs between two clusters by nature: ids, terms, lease TTL countdowns. */
function comparable(value: unknown): unknown {
  if (Buffer.isBuffer(value)) return value.toString('latin1');
  if (Array.isArray(value)) return value.map(comparable);
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [name, field] of Object.entries(value)) {
    if (['cluster_id', 'member_id', 'raft_term', 'TTL'].includes(name)) continue;
    out[name] = comparable(field);
  }
  return out;
}

/** Every key an answer carries (kvs, prev_kv(s), lease keys, watch events), recursively. */
function keysIn(value: unknown, into: string[] = []): string[] {
  if (Array.isArray(value)) for (const item of value) keysIn(item, into);
  else if (typeof value === 'object' && value !== null && !Buffer.isBuffer(value)) {
    for (const [name, field] of Object.entries(value)) {
      if (name === 'key' && Buffer.isBuffer(field)) into.push(field.toString('latin1'));
      else if (name === 'keys' && Array.isArray(field)) into.push(...field.filter(Buffer.isBuffer).map((k: Buffer) => k.toString('latin1')));
      else keysIn(field, into);
    }
  }
  return into;
}

async function snapshot(client: RawEtcd): Promise<unknown> {
  const kvs = await client.unary('KV', 'Range', { key: Buffer.from([0]), range_end: Buffer.from([0]) });
  const leases = await client.unary('Lease', 'LeaseLeases', {});
  return comparable({ kvs: kvs.kvs, revision: (kvs.header as { revision: string }).revision, leases: leases.leases });
}

describe(`v3 differential fuzz (seed ${seed}, ${count} requests)`, () => {
  it('a limited user changes and reads nothing outside their rights, and allowed requests act as on etcd directly', async () => {
    const root = await rawEtcd({ url: etcdA.clientUrl });
    const directB = await rawEtcd({ url: etcdB.clientUrl });
    await seedCluster(root);
    await seedCluster(directB);
    const initial = new Map(((await root.unary('KV', 'Range', { key: Buffer.from([0]), range_end: Buffer.from([0]) })).kvs as { key: Buffer; mod_revision: string }[]).map((kv) => [kv.key.toString('latin1'), kv.mod_revision]));
    const endpoint = { url: proxy.url, caCert: proxy.certs.caCert };
    const fuzzer = await rawEtcd(endpoint, await tokenFor(endpoint, 'fuzzer', 'fuzzpw'));

    // One watch stream that collects every event the fuzzer's allowed watches deliver.
    const seenEvents: string[] = [];
    const watcher = fuzzer.stream('Watch', 'Watch');
    watcher.on('error', () => undefined);
    watcher.on('data', (response: unknown) => seenEvents.push(...keysIn((response as { events?: unknown }).events ?? [])));

    const tally = { allowed: 0, denied: 0 };
    const requests = fuzzRequests(seed, count);
    for (const [index, request] of requests.entries()) {
      const where = `request ${index} (seed ${seed}): ${JSON.stringify(comparable(request))}`;
      const viaProxy = await send(fuzzer, request);
      const refusedByUs = !viaProxy.ok && (viaProxy.code === 7 || viaProxy.message.startsWith('etcd-warden:'));
      const watchRefused = request.kind === 'watch' && viaProxy.ok && (viaProxy.response as { cancel_reason?: string }).cancel_reason === 'etcdserver: permission denied';
      if (refusedByUs || watchRefused) {
        tally.denied++;
      } else {
        tally.allowed++;
        const viaEtcd = await send(directB, request);
        expect(comparable(viaProxy), where).toEqual(comparable(viaEtcd));
        if (request.kind === 'watch' && viaProxy.ok) watcher.write(request.request);
      }
      const leaked = keysIn(viaProxy.ok ? viaProxy.response : []).filter((key) => !fuzzerMayRead(key));
      expect(leaked, where).toEqual([]);
      if (index % 250 === 249 || index === requests.length - 1) {
        expect(await snapshot(root), where).toEqual(await snapshot(directB));
        const now = (await root.unary('KV', 'Range', { key: Buffer.from([0]), range_end: Buffer.from([0]) })).kvs as { key: Buffer; mod_revision: string }[];
        const current = new Map(now.map((kv) => [kv.key.toString('latin1'), kv.mod_revision]));
        for (const [key, revision] of initial) if (!fuzzerMayWrite(key)) expect(current.get(key), `${where}: ${JSON.stringify(key)}`).toBe(revision);
        for (const key of current.keys()) if (!initial.has(key)) expect(fuzzerMayWrite(key), `${where}: created ${JSON.stringify(key)}`).toBe(true);
      }
    }
    expect(seenEvents.filter((key) => !fuzzerMayRead(key))).toEqual([]);
    // The run means something only if both sides of the boundary were exercised.
    expect(tally.allowed).toBeGreaterThan(count / 5);
    expect(tally.denied).toBeGreaterThan(count / 5);
    watcher.cancel();
    for (const client of [fuzzer, root, directB]) client.close();
  }, 600_000);
});
