// The v3 attack table: each row a request by a user through the proxy
// (etcdctl where it can say it, raw gRPC where no client can), the
// decision, and the effect checked in etcd itself. The rows are the
// bypasses etcd's own RBAC had until 2026 and the gateway's ambiguities.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startEtcd, type EtcdProcess } from '../fixtures/etcd.js';
import { allKeys, b64, basic, etcdctl, gatewayPost, rawEtcd, tokenFor, type CommandResult, type RawEtcd } from '../fixtures/v3-clients.js';
import { startV3Proxy, type V3ProxyFixture } from '../fixtures/v3-proxy.js';

let etcd: EtcdProcess;
let proxy: V3ProxyFixture;
let direct: RawEtcd;

const users = { root: 'rootpw', conftool: 'confpw', alice: 'alicepw', bob: 'bobpw' };
const conftool = 'conftool:confpw';
const alice = 'alice:alicepw';
const bob = 'bob:bobpw';

beforeAll(async () => {
  etcd = await startEtcd('v3-attacks');
  proxy = await startV3Proxy({
    upstream: etcd.clientUrl,
    acls: { '/': ['root'], '/conftool': ['root', 'conftool'], '/conftool/locked': ['root'], '/alice': ['alice'], '/bob': ['bob'], '/open': [] },
    readAcls: { '/secret': ['root'], '/conftool/private': ['root'], '/alice': ['alice', 'root'] },
    users,
  });
  direct = await rawEtcd({ url: etcd.clientUrl });
});
afterAll(async () => {
  direct?.close();
  await proxy?.close();
  await etcd?.stop();
});

const seed: Record<string, string> = {
  '/conftool/a': 'a', '/conftool/b': 'b', '/conftool/locked/k': 'locked', '/conftool/private/k': 'private',
  '/conftoolx': 'next door', '/other': 'other', '/public': 'public', '/secret/k': 'the secret',
};

beforeEach(async () => {
  await direct.unary('KV', 'DeleteRange', { key: Buffer.from([0]), range_end: Buffer.from([0]) });
  for (const [key, value] of Object.entries(seed)) await direct.unary('KV', 'Put', { key: Buffer.from(key), value: Buffer.from(value) });
});

const endpoint = (): { url: string; caCert: string } => ({ url: proxy.url, caCert: proxy.certs.caCert });
const v3 = (args: string[], options: { user?: string; input?: string } = {}): Promise<CommandResult> => etcdctl(endpoint(), args, options);

function expectPermissionDenied(result: CommandResult): void {
  expect(result.code).not.toBe(0);
  expect(result.stderr).toContain('etcdserver: permission denied');
}

async function expectUnchanged(): Promise<void> {
  expect(Object.fromEntries(await allKeys(direct))).toEqual(seed);
}

describe('key ranges (etcdctl)', () => {
  it('refuses a write on the segment boundary /conftoolx to a user of /conftool', async () => {
    expectPermissionDenied(await v3(['put', '/conftoolx', 'mine'], { user: conftool }));
    await expectUnchanged();
  });

  it('allows the same user inside /conftool', async () => {
    expect((await v3(['put', '/conftool/new', 'v'], { user: conftool })).code).toBe(0);
    expect((await allKeys(direct)).get('/conftool/new')).toBe('v');
  });

  it('refuses a delete range that starts inside the prefix and ends outside it', async () => {
    expectPermissionDenied(await v3(['del', '/conftool/a', '/conftoolz'], { user: conftool }));
    await expectUnchanged();
  });

  it('refuses a "\\0" range end on a read from a readable key (it reaches /secret)', async () => {
    const result = await v3(['get', '/public', '--from-key']);
    expectPermissionDenied(result);
    expect(result.stdout).not.toContain('the secret');
  });

  it('refuses a "\\0" range end on a delete from a writable key', async () => {
    expectPermissionDenied(await v3(['del', '/conftool/a', '--from-key'], { user: conftool }));
    await expectUnchanged();
  });

  it('refuses a "\\0" range end on a watch from a readable key (raw gRPC: etcdctl 3.4 cannot say it)', async () => {
    const client = await rawEtcd(endpoint());
    const watch = client.stream('Watch', 'Watch');
    watch.on('error', () => undefined);
    const answers: Record<string, unknown>[] = [];
    watch.on('data', (answer: Record<string, unknown>) => answers.push(answer));
    const created = new Promise((resolve) => watch.once('data', resolve));
    watch.write({ create_request: { key: Buffer.from('/public'), range_end: Buffer.from([0]) } });
    await created;
    // A readable watch after it, then a write to /secret and to the readable key:
    // only the readable key's event may come back.
    const second = new Promise((resolve) => watch.once('data', resolve));
    watch.write({ create_request: { key: Buffer.from('/public') } });
    await second;
    const event = new Promise((resolve) => watch.once('data', resolve));
    await direct.unary('KV', 'Put', { key: Buffer.from('/secret/k'), value: Buffer.from('new secret') });
    await direct.unary('KV', 'Put', { key: Buffer.from('/public'), value: Buffer.from('public 2') });
    await event;
    watch.end();
    client.close();
    expect(answers[0]).toMatchObject({ created: true, canceled: true, cancel_reason: 'etcdserver: permission denied' });
    const events = answers.flatMap((answer) => (answer.events as { kv: { key: Buffer } }[]).map((e) => e.kv.key.toString()));
    expect(events).toEqual(['/public']);
  });

  it('refuses a Range whose range_end is present but empty, which etcd serves as "every key >= key" (raw gRPC)', async () => {
    // protobufjs (grpc-js) writes an empty Buffer as a present, empty field; etcdctl never does.
    const client = await rawEtcd(endpoint());
    try {
      await expect(client.unary('KV', 'Range', { key: Buffer.from('/public'), range_end: Buffer.alloc(0) })).rejects.toMatchObject({ code: 7 });
      const straight = await direct.unary('KV', 'Range', { key: Buffer.from('/public'), range_end: Buffer.alloc(0) });
      expect((straight.kvs as { key: Buffer }[]).map((kv) => kv.key.toString())).toContain('/secret/k');
    } finally {
      client.close();
    }
  });

  it('refuses a delete of a prefix holding a stricter subtree (/conftool/locked)', async () => {
    expectPermissionDenied(await v3(['del', '--prefix', '/conftool/'], { user: conftool }));
    await expectUnchanged();
  });

  it('refuses prev_kv on a Put of a key the user may write but not read', async () => {
    expectPermissionDenied(await v3(['put', '/conftool/private/k', 'overwritten', '--prev-kv'], { user: conftool }));
    await expectUnchanged();
  });

  it('refuses prev_kv on a DeleteRange of a key the user may write but not read', async () => {
    expectPermissionDenied(await v3(['del', '/conftool/private/k', '--prev-kv'], { user: conftool }));
    await expectUnchanged();
  });
});

describe('transactions', () => {
  it('refuses a Txn comparing an unreadable key (the compare result would leak it)', async () => {
    const input = 'value("/secret/k") = "the secret"\n\nput /conftool/t guessed\n\n\n';
    expectPermissionDenied(await v3(['txn', '--interactive'], { user: conftool, input }));
    await expectUnchanged();
  });

  it('refuses a Txn writing outside in its failure branch', async () => {
    const input = 'value("/conftool/a") = "a"\n\nput /conftool/t ok\n\nput /other taken\n\n';
    expectPermissionDenied(await v3(['txn', '--interactive'], { user: conftool, input }));
    await expectUnchanged();
  });

  it('refuses a Txn writing outside in its success branch', async () => {
    const input = '\ndel /other\n\n\n';
    expectPermissionDenied(await v3(['txn', '--interactive'], { user: conftool, input }));
    await expectUnchanged();
  });

  it('refuses a nested Txn writing outside (etcd <= 3.4.41 never checked nested ops)', async () => {
    const client = await rawEtcd(endpoint(), await tokenFor(endpoint(), 'conftool', users.conftool));
    try {
      const nested = { success: [{ request_txn: { failure: [{ request_put: { key: Buffer.from('/other'), value: Buffer.from('taken') } }] } }] };
      await expect(client.unary('KV', 'Txn', { success: [{ request_txn: nested }] })).rejects.toMatchObject({ code: 7, details: 'etcdserver: permission denied' });
    } finally {
      client.close();
    }
    await expectUnchanged();
  });

  it('allows a nested Txn that stays inside', async () => {
    const client = await rawEtcd(endpoint(), await tokenFor(endpoint(), 'conftool', users.conftool));
    try {
      await client.unary('KV', 'Txn', { success: [{ request_txn: { success: [{ request_put: { key: Buffer.from('/conftool/nested'), value: Buffer.from('ok') } }] } }] });
    } finally {
      client.close();
    }
    expect((await allKeys(direct)).get('/conftool/nested')).toBe('ok');
  });
});

describe('watches', () => {
  it('refuses a watch with prev_kv on a key the user may not read, answering as etcd does (created and canceled)', async () => {
    const client = await rawEtcd(endpoint(), await tokenFor(endpoint(), 'conftool', users.conftool));
    const watch = client.stream('Watch', 'Watch');
    watch.on('error', () => undefined);
    const first = new Promise<Record<string, unknown>>((resolve) => watch.once('data', resolve));
    watch.write({ create_request: { key: Buffer.from('/conftool/private/k'), prev_kv: true } });
    expect(await first).toMatchObject({ created: true, canceled: true, watch_id: '-1', cancel_reason: 'etcdserver: permission denied' });
    // The stream stays usable: a readable watch on it is created by etcd.
    const second = new Promise<Record<string, unknown>>((resolve) => watch.once('data', resolve));
    watch.write({ create_request: { key: Buffer.from('/conftool/a') } });
    expect(await second).toMatchObject({ created: true, canceled: false });
    watch.end();
    client.close();
  });
});

describe('leases', () => {
  async function aliceLease(): Promise<string> {
    const granted = await v3(['lease', 'grant', '600'], { user: alice });
    const id = /lease ([0-9a-f]+) granted/.exec(granted.stdout)?.[1];
    if (id === undefined) throw new Error(`no lease: ${granted.stdout} ${granted.stderr}`);
    expect((await v3(['put', '/alice/session', 'here', `--lease=${id}`], { user: alice })).code).toBe(0);
    return id;
  }

  it('refuses a revoke by another user of a lease holding alice\'s key, and the key stays', async () => {
    const id = await aliceLease();
    expectPermissionDenied(await v3(['lease', 'revoke', id], { user: bob }));
    expect((await allKeys(direct)).get('/alice/session')).toBe('here');
    expect((await v3(['lease', 'revoke', id], { user: alice })).code).toBe(0);
    expect((await allKeys(direct)).has('/alice/session')).toBe(false);
  });

  it('refuses a keep-alive by another user of a lease holding alice\'s key; alice keeps it alive', async () => {
    const id = await aliceLease();
    const byBob = await v3(['lease', 'keep-alive', '--once', id], { user: bob });
    expect(byBob.code).not.toBe(0);
    expect(byBob.stderr).toContain('permission denied');
    expect((await v3(['lease', 'keep-alive', '--once', id], { user: alice })).stdout).toContain('keepalived with TTL');
  });

  it('refuses TimeToLive with keys to a user who may not read the attached keys', async () => {
    const id = await aliceLease();
    expectPermissionDenied(await v3(['lease', 'timetolive', id, '--keys'], { user: bob }));
    expect((await v3(['lease', 'timetolive', id, '--keys'], { user: alice })).stdout).toContain('/alice/session');
  });

  it('refuses attaching a key to a lease that holds keys the user may not write', async () => {
    const id = await aliceLease();
    expectPermissionDenied(await v3(['put', '/bob/k', 'v', `--lease=${id}`], { user: bob }));
    expect((await allKeys(direct)).has('/bob/k')).toBe(false);
  });
});

describe('admin-only operations by a non-admin', () => {
  it('Compact: refused, and history before it is still readable', async () => {
    const before = await direct.unary('KV', 'Range', { key: Buffer.from('/conftool/a') });
    const revision = String((before.header as { revision: string }).revision);
    await direct.unary('KV', 'Put', { key: Buffer.from('/conftool/a'), value: Buffer.from('a2') });
    expectPermissionDenied(await v3(['compaction', String(Number(revision) + 1)], { user: conftool }));
    const old = await direct.unary('KV', 'Range', { key: Buffer.from('/conftool/a'), revision });
    expect((old.kvs as { value: Buffer }[])[0]?.value.toString()).toBe('a');
  });

  it('MemberAdd: refused, the cluster keeps one member', async () => {
    expectPermissionDenied(await v3(['member', 'add', 'intruder', '--peer-urls=http://127.0.0.1:1'], { user: conftool }));
    expect((await direct.unary('Cluster', 'MemberList', {})).members).toHaveLength(1);
  });

  it('AuthEnable: refused to a non-admin, and to an admin too (it would lock the proxy out of etcd)', async () => {
    for (const user of [conftool, 'root:rootpw']) {
      const result = await v3(['auth', 'enable'], { user });
      expect(result.code).not.toBe(0);
      expect(result.stderr).toContain("etcd's own authentication stays off");
    }
    // etcd still answers without a token.
    expect((await allKeys(direct)).get('/other')).toBe('other');
  });

  it('UserAdd: refused, etcd has no users', async () => {
    expectPermissionDenied(await v3(['user', 'add', 'eve:evepw'], { user: conftool }));
    expect((await direct.unary('Auth', 'UserList', {})).users).toEqual([]);
  });

  it('Alarm: raising NOSPACE (which stops every write) and disarming are refused; listing is not', async () => {
    const client = await rawEtcd(endpoint(), await tokenFor(endpoint(), 'conftool', users.conftool));
    try {
      await expect(client.unary('Maintenance', 'Alarm', { action: 1, memberID: '0', alarm: 1 })).rejects.toMatchObject({ code: 7 });
      await expect(client.unary('Maintenance', 'Alarm', { action: 2, memberID: '0', alarm: 1 })).rejects.toMatchObject({ code: 7 });
    } finally {
      client.close();
    }
    expect((await direct.unary('Maintenance', 'Alarm', { action: 0 })).alarms).toEqual([]);
    expect((await v3(['alarm', 'list'])).code).toBe(0);
  });

  it('Defragment: refused', async () => {
    expectPermissionDenied(await v3(['defrag'], { user: conftool }));
  });

  it('Snapshot: refused, no snapshot file written', async () => {
    const file = join(etcd.dataDir, 'stolen.db');
    const result = await v3(['snapshot', 'save', file], { user: conftool });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('permission denied');
    expect(existsSync(file)).toBe(false);
  });

  it('an admin may compact and defragment', async () => {
    expect((await v3(['defrag'], { user: 'root:rootpw' })).code).toBe(0);
  });
});

describe('the JSON gateway', () => {
  const put = (key: string, extra = ''): string => `{"key":"${b64(key)}","value":"${b64('gw')}"${extra}}`;

  it('/v3beta is the same API, under the same rules', async () => {
    expect((await gatewayPost(endpoint(), '/v3beta/kv/put', put('/conftoolx'), basic('conftool', users.conftool))).status).toBe(403);
    expect((await gatewayPost(endpoint(), '/v3beta/kv/put', put('/conftool/beta'), basic('conftool', users.conftool))).status).toBe(200);
    const keys = await allKeys(direct);
    expect(keys.get('/conftoolx')).toBe('next door');
    expect(keys.get('/conftool/beta')).toBe('gw');
  });

  it('decides on the key a base64 with line breaks decodes to, as etcd does (/conftoolx)', async () => {
    const answer = await gatewayPost(endpoint(), '/v3/kv/put', `{"key":"L2Nvbm\\nZ0b29s\\r\\neA==","value":"eA=="}`, basic('conftool', users.conftool));
    expect(answer.status).toBe(403);
    await expectUnchanged();
  });

  it.each([
    ['unpadded base64', '{"key":"L2NvbmZ0b29sL3VucGFkZGVk","value":"eA"}'],
    ['URL-safe base64', '{"key":"L2NvbmZ0b29sL3g_","value":"eA=="}'],
  ])('refuses %s (etcd\'s gateway refuses it too)', async (_name, body) => {
    const answer = await gatewayPost(endpoint(), '/v3/kv/put', body, basic('conftool', users.conftool));
    expect(answer.status).toBe(400);
    await expectUnchanged();
  });

  it('decides on the last of two "key" fields, the one etcd acts on', async () => {
    const body = `{"key":"${b64('/conftool/decoy')}","key":"${b64('/other')}","value":"eA=="}`;
    expect((await gatewayPost(endpoint(), '/v3/kv/put', body, basic('conftool', users.conftool))).status).toBe(403);
    await expectUnchanged();
  });

  it('decides on rangeEnd over range_end, whichever comes first, as etcd does', async () => {
    const body = `{"key":"${b64('/conftool/a')}","rangeEnd":"AA==","range_end":""}`;
    expect((await gatewayPost(endpoint(), '/v3/kv/deleterange', body, basic('conftool', users.conftool))).status).toBe(403);
    await expectUnchanged();
  });

  it('decides on prevKv over prev_kv', async () => {
    expect((await gatewayPost(endpoint(), '/v3/kv/put', put('/conftool/private/k', ',"prev_kv":false,"prevKv":true'), basic('conftool', users.conftool))).status).toBe(403);
    await expectUnchanged();
  });

  it('judges every watch request in one body: a readable one first does not let a "\\0" one through', async () => {
    const body = `{"create_request":{"key":"${b64('/public')}"}}\n{"create_request":{"key":"${b64('/public')}","range_end":"AA=="}}`;
    const answer = await gatewayPost(endpoint(), '/v3/watch', body);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body.split('\n')[0] ?? '')).toMatchObject({ result: { created: true, canceled: true, cancel_reason: 'etcdserver: permission denied' } });
  });

  it('a refused gateway write answers etcd\'s error body', async () => {
    const answer = await gatewayPost(endpoint(), '/v3/kv/put', put('/other'), basic('conftool', users.conftool));
    expect(JSON.parse(answer.body)).toEqual({ error: 'etcdserver: permission denied', message: 'etcdserver: permission denied', code: 7 });
  });
});

describe('messages two decoders could read differently', () => {
  it('refuses a RequestOp naming both a read and a write (raw bytes)', async () => {
    const { etcdMethods } = await import('../../proxy/v3/methods.js');
    const { encodeFrame } = await import('../../proxy/v3/frames.js');
    const table = etcdMethods().byPath;
    const range = table.get('/etcdserverpb.KV/Range')?.requestType.encode({ key: Buffer.from('/conftool/a') }).finish() ?? new Uint8Array();
    const putOp = table.get('/etcdserverpb.KV/Put')?.requestType.encode({ key: Buffer.from('/other'), value: Buffer.from('x') }).finish() ?? new Uint8Array();
    const op = Buffer.concat([Buffer.from([0x0a, range.length]), range, Buffer.from([0x12, putOp.length]), putOp]);
    const txn = Buffer.concat([Buffer.from([0x12, op.length]), op]);
    const { connect } = await import('node:http2');
    const { readFile } = await import('node:fs/promises');
    const session = connect(proxy.url, { ca: await readFile(proxy.certs.caCert) });
    const stream = session.request({ ':method': 'POST', ':path': '/etcdserverpb.KV/Txn', 'content-type': 'application/grpc', te: 'trailers' });
    const status = await new Promise<string | undefined>((resolve) => {
      let grpcStatus: string | undefined;
      stream.on('response', (headers) => (grpcStatus = (headers['grpc-status'] as string | undefined) ?? grpcStatus));
      stream.on('trailers', (headers) => (grpcStatus = (headers['grpc-status'] as string | undefined) ?? grpcStatus));
      stream.on('close', () => resolve(grpcStatus));
      stream.resume();
      stream.end(encodeFrame(txn));
    });
    session.close();
    expect(status).toBe('3');
    await expectUnchanged();
  });
});
