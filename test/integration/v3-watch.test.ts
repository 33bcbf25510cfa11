// v3 watches through the proxy: many streams on one connection to etcd,
// every one of them told of a write; streams end on etcd's side when their
// client goes away; the read-only switch refuses writes while watches and
// keep-alives go on.
import type * as grpc from '@grpc/grpc-js';
import { get } from 'node:http';
import { describe, expect, it } from 'vitest';
import { b64, basic, etcdctl, gatewayPost, rawEtcd, tokenFor, type RawEtcd } from '../fixtures/v3-clients.js';
import { useV3ProxiedEtcd } from '../fixtures/v3-proxied-etcd.js';

const v3 = useV3ProxiedEtcd('v3-watch', { acls: { '/': ['root'], '/conftool': ['root', 'conftool'] }, users: { root: 'rootpw', conftool: 'confpw' } });

const endpoint = (): { url: string; caCert: string } => ({ url: v3.proxy.url, caCert: v3.proxy.certs.caCert });

/** A gauge from etcd's own /metrics. */
function etcdGauge(name: string): Promise<number> {
  return new Promise((resolve, reject) => {
    get(`${v3.etcd.clientUrl}/metrics`, (response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => (text += chunk.toString()));
      response.on('end', () => resolve(Number(text.split('\n').find((line) => line.startsWith(`${name} `))?.split(' ')[1])));
    }).on('error', reject);
  });
}

async function until(condition: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

type WatchStream = grpc.ClientDuplexStream<Record<string, unknown>, Record<string, unknown>>;

/** Opens a watch stream on `key`, resolving once etcd confirmed it, and a promise of its first event's value. */
async function openWatch(client: RawEtcd, key: string): Promise<{ stream: WatchStream; firstEvent: Promise<string> }> {
  const stream = client.stream('Watch', 'Watch');
  stream.on('error', () => undefined);
  let created: () => void = () => undefined;
  let evented: (value: string) => void = () => undefined;
  const isCreated = new Promise<void>((resolve) => (created = resolve));
  const firstEvent = new Promise<string>((resolve) => (evented = resolve));
  stream.on('data', (response: { created?: boolean; events?: { kv: { value: Buffer } }[] }) => {
    if (response.created === true) created();
    const event = response.events?.[0];
    if (event !== undefined) evented(event.kv.value.toString());
  });
  stream.write({ create_request: { key: Buffer.from(key) } });
  await isCreated;
  return { stream, firstEvent };
}

describe('many watches', () => {
  it('1,000 concurrent watch streams through the proxy all receive one write, and end in etcd when their clients leave', async () => {
    const baseline = await etcdGauge('etcd_debugging_mvcc_watcher_total');
    // Four client connections, 250 streams each; the proxy carries all 1,000 on its one connection to etcd.
    const clients = await Promise.all([0, 1, 2, 3].map(() => rawEtcd(endpoint())));
    const watches: { stream: WatchStream; firstEvent: Promise<string> }[] = [];
    for (const client of clients) {
      for (let i = 0; i < 250; i++) watches.push(await openWatch(client, '/conftool/fanout'));
    }
    expect(await etcdGauge('etcd_debugging_mvcc_watcher_total')).toBe(baseline + 1000);
    await v3.direct.unary('KV', 'Put', { key: Buffer.from('/conftool/fanout'), value: Buffer.from('one write') });
    const values = await Promise.all(watches.map((watch) => watch.firstEvent));
    expect(values.filter((value) => value === 'one write')).toHaveLength(1000);
    for (const watch of watches) watch.stream.cancel();
    for (const client of clients) client.close();
    await until(async () => (await etcdGauge('etcd_debugging_mvcc_watcher_total')) === baseline, 'etcd to drop the watchers of cancelled streams');
  });

  it('a client whose connection dies ends its watch streams in etcd', async () => {
    const { connect } = await import('node:http2');
    const { readFile } = await import('node:fs/promises');
    const { encodeFrame } = await import('../../proxy/v3/frames.js');
    const { etcdMethods } = await import('../../proxy/v3/methods.js');
    const watchRequest = etcdMethods().byPath.get('/etcdserverpb.Watch/Watch')?.requestType;
    if (watchRequest === undefined) throw new Error('no Watch');
    const baseline = await etcdGauge('etcd_debugging_mvcc_watcher_total');
    const session = connect(v3.proxy.url, { ca: await readFile(v3.proxy.certs.caCert) });
    for (let i = 0; i < 10; i++) {
      const stream = session.request({ ':method': 'POST', ':path': '/etcdserverpb.Watch/Watch', 'content-type': 'application/grpc', te: 'trailers' });
      stream.on('error', () => undefined);
      stream.write(encodeFrame(watchRequest.encode({ create_request: { key: Buffer.from(`/conftool/gone/${i}`) } }).finish()));
    }
    await until(async () => (await etcdGauge('etcd_debugging_mvcc_watcher_total')) === baseline + 10, 'the watches to be created');
    // No GOAWAY, no RST_STREAM: the connection just goes, as when a host dies.
    session.destroy();
    await until(async () => (await etcdGauge('etcd_debugging_mvcc_watcher_total')) === baseline, 'etcd to drop the watchers of a dead connection');
  });
});

describe('rules in force per message', () => {
  it('judges each watch creation on an open stream by the rules of the moment it arrives', async () => {
    const client = await rawEtcd(endpoint());
    const stream = client.stream('Watch', 'Watch');
    stream.on('error', () => undefined);
    const next = (): Promise<Record<string, unknown>> => new Promise((resolve) => stream.once('data', resolve));
    let answer = next();
    stream.write({ create_request: { key: Buffer.from('/conftool/a') } });
    expect(await answer).toMatchObject({ created: true, canceled: false });
    await v3.proxy.reconfigure({ readAcls: { '/conftool': ['root'] } });
    try {
      answer = next();
      stream.write({ create_request: { key: Buffer.from('/conftool/b') } });
      expect(await answer).toMatchObject({ created: true, canceled: true, cancel_reason: 'etcdserver: permission denied' });
    } finally {
      await v3.proxy.reconfigure({ readAcls: {} });
      stream.cancel();
      client.close();
    }
  });
});

describe('the read-only switch', () => {
  it('refuses writes with FAILED_PRECONDITION naming the switch, while an open watch and a lease keep-alive go on', async () => {
    const client = await rawEtcd(endpoint(), await tokenFor(endpoint(), 'conftool', 'confpw'));
    const watch = await openWatch(client, '/conftool/ro');
    const granted = await etcdctl(endpoint(), ['lease', 'grant', '600'], { user: 'conftool:confpw' });
    const lease = /lease ([0-9a-f]+) granted/.exec(granted.stdout)?.[1] ?? 'none';
    await v3.proxy.reconfigure({ readOnly: true });
    try {
      const refused = await etcdctl(endpoint(), ['put', '/conftool/ro', 'x'], { user: 'conftool:confpw' });
      expect(refused.stderr).toContain('code = FailedPrecondition');
      expect(refused.stderr).toContain('read-only mode');
      expect((await etcdctl(endpoint(), ['lease', 'grant', '60'], { user: 'conftool:confpw' })).stderr).toContain('read-only mode');
      expect((await etcdctl(endpoint(), ['lease', 'keep-alive', '--once', lease], { user: 'conftool:confpw' })).stdout).toContain('keepalived with TTL');
      // The bundled mirror writes to etcd directly: the open watch sees it.
      await v3.direct.unary('KV', 'Put', { key: Buffer.from('/conftool/ro'), value: Buffer.from('from the mirror') });
      expect(await watch.firstEvent).toBe('from the mirror');
      expect((await etcdctl(endpoint(), ['get', '/conftool/ro'])).stdout).toContain('from the mirror');
      const gateway = await gatewayPost(endpoint(), '/v3/kv/put', `{"key":"${b64('/conftool/ro')}","value":"eA=="}`, basic('conftool', 'confpw'));
      expect(gateway.status).toBe(403);
      expect(JSON.parse(gateway.body)).toMatchObject({ code: 9, error: expect.stringContaining('read-only mode') });
    } finally {
      await v3.proxy.reconfigure({ readOnly: false });
      watch.stream.end();
      client.close();
    }
  });
});
