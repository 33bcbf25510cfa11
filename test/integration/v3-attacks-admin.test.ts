// The v3 attack table, part 2: admin-only operations by a non-admin, the
// JSON gateway's spellings (the proxy must decide on the value etcd's
// gateway will use), and messages two decoders could read differently.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { conftool, expectPermissionDenied, useV3AttackProxy, users } from '../fixtures/v3-attack-proxy.js';
import { allKeys, b64, basic, gatewayPost, rawEtcd, rawGrpcCall, tokenFor } from '../fixtures/v3-clients.js';

const attack = useV3AttackProxy('v3-attacks-admin');

describe('admin-only operations by a non-admin', () => {
  it('Compact: refused, and history before it is still readable', async () => {
    const before = await attack.direct.unary('KV', 'Range', { key: Buffer.from('/conftool/a') });
    const revision = String((before.header as { revision: string }).revision);
    await attack.direct.unary('KV', 'Put', { key: Buffer.from('/conftool/a'), value: Buffer.from('a2') });
    expectPermissionDenied(await attack.etcdctl(['compaction', String(Number(revision) + 1)], { user: conftool }));
    const old = await attack.direct.unary('KV', 'Range', { key: Buffer.from('/conftool/a'), revision });
    expect((old.kvs as { value: Buffer }[])[0]?.value.toString()).toBe('a');
  });

  it('MemberAdd: refused, the cluster keeps one member', async () => {
    expectPermissionDenied(await attack.etcdctl(['member', 'add', 'intruder', '--peer-urls=http://127.0.0.1:1'], { user: conftool }));
    expect((await attack.direct.unary('Cluster', 'MemberList', {})).members).toHaveLength(1);
  });

  it('AuthEnable: refused to a non-admin, and to an admin too (it would lock the proxy out of etcd)', async () => {
    for (const user of [conftool, 'root:rootpw']) {
      const result = await attack.etcdctl(['auth', 'enable'], { user });
      expect(result.code).not.toBe(0);
      expect(result.stderr).toContain("etcd's own authentication stays off");
    }
    // etcd still answers without a token.
    expect((await allKeys(attack.direct)).get('/other')).toBe('other');
  });

  it('UserAdd: refused, etcd has no users', async () => {
    expectPermissionDenied(await attack.etcdctl(['user', 'add', 'eve:evepw'], { user: conftool }));
    expect((await attack.direct.unary('Auth', 'UserList', {})).users).toEqual([]);
  });

  it('Alarm: raising NOSPACE (which stops every write) and disarming are refused; listing is not', async () => {
    const client = await rawEtcd(attack.endpoint, await tokenFor(attack.endpoint, 'conftool', users.conftool));
    try {
      await expect(client.unary('Maintenance', 'Alarm', { action: 1, memberID: '0', alarm: 1 })).rejects.toMatchObject({ code: 7 });
      await expect(client.unary('Maintenance', 'Alarm', { action: 2, memberID: '0', alarm: 1 })).rejects.toMatchObject({ code: 7 });
    } finally {
      client.close();
    }
    expect((await attack.direct.unary('Maintenance', 'Alarm', { action: 0 })).alarms).toEqual([]);
    expect((await attack.etcdctl(['alarm', 'list'])).code).toBe(0);
  });

  it('Defragment: refused', async () => {
    expectPermissionDenied(await attack.etcdctl(['defrag'], { user: conftool }));
  });

  it('Snapshot: refused, no snapshot file written', async () => {
    const file = join(attack.etcd.dataDir, 'stolen.db');
    const result = await attack.etcdctl(['snapshot', 'save', file], { user: conftool });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('permission denied');
    expect(existsSync(file)).toBe(false);
  });

  it('an admin may compact and defragment', async () => {
    expect((await attack.etcdctl(['defrag'], { user: 'root:rootpw' })).code).toBe(0);
  });
});

describe('the JSON gateway', () => {
  const put = (key: string, extra = ''): string => `{"key":"${b64(key)}","value":"${b64('gw')}"${extra}}`;

  it('/v3beta is the same API, under the same rules', async () => {
    expect((await gatewayPost(attack.endpoint, '/v3beta/kv/put', put('/conftoolx'), basic('conftool', users.conftool))).status).toBe(403);
    expect((await gatewayPost(attack.endpoint, '/v3beta/kv/put', put('/conftool/beta'), basic('conftool', users.conftool))).status).toBe(200);
    const keys = await allKeys(attack.direct);
    expect(keys.get('/conftoolx')).toBe('next door');
    expect(keys.get('/conftool/beta')).toBe('gw');
  });

  it('decides on the key a base64 with line breaks decodes to, as etcd does (/conftoolx)', async () => {
    const answer = await gatewayPost(attack.endpoint, '/v3/kv/put', `{"key":"L2Nvbm\\nZ0b29s\\r\\neA==","value":"eA=="}`, basic('conftool', users.conftool));
    expect(answer.status).toBe(403);
    await attack.expectUnchanged();
  });

  it.each([
    ['unpadded base64', '{"key":"L2NvbmZ0b29sL3VucGFkZGVk","value":"eA"}'],
    ['URL-safe base64', '{"key":"L2NvbmZ0b29sL3g_","value":"eA=="}'],
  ])('refuses %s (etcd\'s gateway refuses it too)', async (_name, body) => {
    const answer = await gatewayPost(attack.endpoint, '/v3/kv/put', body, basic('conftool', users.conftool));
    expect(answer.status).toBe(400);
    await attack.expectUnchanged();
  });

  it('decides on the last of two "key" fields, the one etcd acts on', async () => {
    const body = `{"key":"${b64('/conftool/decoy')}","key":"${b64('/other')}","value":"eA=="}`;
    expect((await gatewayPost(attack.endpoint, '/v3/kv/put', body, basic('conftool', users.conftool))).status).toBe(403);
    await attack.expectUnchanged();
  });

  it('decides on rangeEnd over range_end, whichever comes first, as etcd does', async () => {
    const body = `{"key":"${b64('/conftool/a')}","rangeEnd":"AA==","range_end":""}`;
    expect((await gatewayPost(attack.endpoint, '/v3/kv/deleterange', body, basic('conftool', users.conftool))).status).toBe(403);
    await attack.expectUnchanged();
  });

  it('decides on prevKv over prev_kv', async () => {
    expect((await gatewayPost(attack.endpoint, '/v3/kv/put', put('/conftool/private/k', ',"prev_kv":false,"prevKv":true'), basic('conftool', users.conftool))).status).toBe(403);
    await attack.expectUnchanged();
  });

  it('judges every watch request in one body: a readable one first does not let a "\\0" one through', async () => {
    const body = `{"create_request":{"key":"${b64('/public')}"}}\n{"create_request":{"key":"${b64('/public')}","range_end":"AA=="}}`;
    const answer = await gatewayPost(attack.endpoint, '/v3/watch', body);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body.split('\n')[0] ?? '')).toMatchObject({ result: { created: true, canceled: true, cancel_reason: 'etcdserver: permission denied' } });
  });

  it('a refused gateway write answers etcd\'s error body', async () => {
    const answer = await gatewayPost(attack.endpoint, '/v3/kv/put', put('/other'), basic('conftool', users.conftool));
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
    const { status } = await rawGrpcCall(attack.endpoint, '/etcdserverpb.KV/Txn', encodeFrame(txn));
    expect(status).toBe('3');
    await attack.expectUnchanged();
  });
});

describe('methods the .proto files do not define', () => {
  // etcd serves gRPC's health service; the lock and election services are
  // etcd's too. None is in our .proto files: admins only, passed as bytes.
  it('are refused to a non-admin and passed through for an admin', async () => {
    const { encodeFrame } = await import('../../proxy/v3/frames.js');
    const check = encodeFrame(new Uint8Array());
    const asConftool = await rawGrpcCall(attack.endpoint, '/grpc.health.v1.Health/Check', check, { token: await tokenFor(attack.endpoint, 'conftool', users.conftool) });
    expect(asConftool).toMatchObject({ status: '7', message: 'etcdserver: permission denied' });
    const asRoot = await rawGrpcCall(attack.endpoint, '/grpc.health.v1.Health/Check', check, { token: await tokenFor(attack.endpoint, 'root', users.root) });
    expect(asRoot.status).toBe('0');
    // HealthCheckResponse{status: SERVING} is field 1 = 1.
    expect(asRoot.body.subarray(5)).toEqual(Buffer.from([0x08, 0x01]));
    const lock = await gatewayPost(attack.endpoint, '/v3/lock/lock', `{"name":"${b64('/conftool/lock')}"}`, basic('conftool', users.conftool));
    expect(lock.status).toBe(403);
  });
});
