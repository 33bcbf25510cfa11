// The staleness guard end to end: the primary's proxy writes heartbeats, the
// bundled mirror in the replica's proxy carries them, the replica's proxy
// tells readers how old its data is and refuses data older than they accept.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startEtcd, type EtcdProcess } from '../fixtures/etcd.js';
import { form, rawRequest } from '../fixtures/http.js';
import { startProxy, type ProxyProcess } from '../fixtures/proxy.js';

let primaryEtcd: EtcdProcess;
let replicaEtcd: EtcdProcess;
let primary: ProxyProcess;
let replica: ProxyProcess;

const heartbeat = { key: '/conftool/heartbeat', intervalMs: 200 };

async function until<T>(probe: () => Promise<T | undefined>, what: string): Promise<T> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

beforeAll(async () => {
  primaryEtcd = await startEtcd('primary');
  replicaEtcd = await startEtcd('replica');
  await rawRequest(primaryEtcd.clientUrl, '/v2/keys/conftool/pools/a', { method: 'PUT', body: form({ value: 'pooled' }) });
  primary = await startProxy({ upstream: primaryEtcd.clientUrl, config: { acls: { '/': [] }, heartbeat } });
  replica = await startProxy({
    upstream: replicaEtcd.clientUrl,
    config: {
      acls: { '/': [] },
      readOnly: true,
      heartbeat,
      mirror: { src: primaryEtcd.clientUrl, srcPrefix: '/conftool', dstPrefix: '/conftool', port: await freePort(), reload: true },
    },
  });
});

afterAll(async () => {
  await replica?.stop();
  await primary?.stop();
  await replicaEtcd?.stop();
  await primaryEtcd?.stop();
});

describe('staleness guard', () => {
  it('the bundled mirror carries the data and the heartbeat to the replica', async () => {
    const replicated = await until(async () => {
      const response = await rawRequest(replica.url, '/v2/keys/conftool/pools/a');
      return response.status === 200 ? response : undefined;
    }, 'the key on the replica');
    expect(JSON.parse(replicated.body).node.value).toBe('pooled');
    const beat = await rawRequest(replicaEtcd.clientUrl, '/v2/keys/conftool/heartbeat');
    expect(Date.parse(JSON.parse(beat.body).node.value)).not.toBeNaN();
  });

  it('adds X-Etcd-Replica-Age to reads on the replica, and not on the primary', async () => {
    const age = await until(async () => {
      const header = (await rawRequest(replica.url, '/v2/keys/conftool/pools/a')).headers['x-etcd-replica-age'];
      return typeof header === 'string' ? Number(header) : undefined;
    }, 'a replica age');
    expect(age).toBeGreaterThanOrEqual(0);
    expect((await rawRequest(primary.url, '/v2/keys/conftool/pools/a')).headers['x-etcd-replica-age']).toBeUndefined();
  });

  it('serves a reader whose bound the replica meets', async () => {
    const response = await rawRequest(replica.url, '/v2/keys/conftool/pools/a', { headers: { 'x-etcd-max-staleness': '60' } });
    expect(response.status).toBe(200);
  });

  it('exposes the age as a metric on the replica and counts heartbeat writes on the primary', async () => {
    expect((await rawRequest(replica.metricsUrl, '/metrics')).body).toMatch(/^etcd_warden_replica_age_seconds \d/m);
    expect((await rawRequest(primary.metricsUrl, '/metrics')).body).toMatch(/^etcd_warden_heartbeat_writes_total\{result="success"\} [1-9]/m);
  });

  it('refuses data older than X-Etcd-Max-Staleness with an etcd-style 503 once the primary stops beating', async () => {
    await primary.stop();
    const age = await until(async () => {
      const header = (await rawRequest(replica.url, '/v2/keys/conftool/pools/a')).headers['x-etcd-replica-age'];
      return Number(header) > 1.5 ? Number(header) : undefined;
    }, 'the replica age to pass 1.5 s');
    expect(age).toBeGreaterThan(1.5);
    const refused = await rawRequest(replica.url, '/v2/keys/conftool/pools/a', { headers: { 'x-etcd-max-staleness': '1' } });
    expect(refused.status).toBe(503);
    expect(JSON.parse(refused.body)).toMatchObject({ errorCode: 300, message: 'Replica data is older than the requested maximum staleness' });
    const tolerant = await rawRequest(replica.url, '/v2/keys/conftool/pools/a', { headers: { 'x-etcd-max-staleness': '3600' } });
    expect(tolerant.status).toBe(200);
  });
});
