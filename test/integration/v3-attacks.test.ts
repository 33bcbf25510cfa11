// The v3 attack table, part 1: key ranges, transactions, watches and leases.
// Each row a request by a user through the proxy (etcdctl where it can say
// it, raw gRPC where no client can), the decision, and the effect checked in
// etcd itself. The rows are the bypasses etcd's own RBAC had until 2026.
import { describe, expect, it } from 'vitest';
import { alice, bob, conftool, expectPermissionDenied, useV3AttackProxy, users } from '../fixtures/v3-attack-proxy.js';
import { allKeys, rawEtcd, tokenFor } from '../fixtures/v3-clients.js';

const attack = useV3AttackProxy('v3-attacks');

describe('key ranges (etcdctl)', () => {
  it('refuses a write on the segment boundary /conftoolx to a user of /conftool', async () => {
    expectPermissionDenied(await attack.etcdctl(['put', '/conftoolx', 'mine'], { user: conftool }));
    await attack.expectUnchanged();
  });

  it('allows the same user inside /conftool', async () => {
    expect((await attack.etcdctl(['put', '/conftool/new', 'v'], { user: conftool })).code).toBe(0);
    expect((await allKeys(attack.direct)).get('/conftool/new')).toBe('v');
  });

  it('refuses a delete range that starts inside the prefix and ends outside it', async () => {
    expectPermissionDenied(await attack.etcdctl(['del', '/conftool/a', '/conftoolz'], { user: conftool }));
    await attack.expectUnchanged();
  });

  it('refuses a "\\0" range end on a read from a readable key (it reaches /secret)', async () => {
    const result = await attack.etcdctl(['get', '/public', '--from-key']);
    expectPermissionDenied(result);
    expect(result.stdout).not.toContain('the secret');
  });

  it('refuses a "\\0" range end on a delete from a writable key', async () => {
    expectPermissionDenied(await attack.etcdctl(['del', '/conftool/a', '--from-key'], { user: conftool }));
    await attack.expectUnchanged();
  });

  it('refuses a "\\0" range end on a watch from a readable key (raw gRPC: etcdctl 3.4 cannot say it)', async () => {
    const client = await rawEtcd(attack.endpoint);
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
    await attack.direct.unary('KV', 'Put', { key: Buffer.from('/secret/k'), value: Buffer.from('new secret') });
    await attack.direct.unary('KV', 'Put', { key: Buffer.from('/public'), value: Buffer.from('public 2') });
    await event;
    watch.end();
    client.close();
    expect(answers[0]).toMatchObject({ created: true, canceled: true, cancel_reason: 'etcdserver: permission denied' });
    const events = answers.flatMap((answer) => (answer.events as { kv: { key: Buffer } }[]).map((e) => e.kv.key.toString()));
    expect(events).toEqual(['/public']);
  });

  it('refuses a Range whose range_end is present but empty, which etcd serves as "every key >= key" (raw gRPC)', async () => {
    // protobufjs (grpc-js) writes an empty Buffer as a present, empty field; etcdctl never does.
    const client = await rawEtcd(attack.endpoint);
    try {
      await expect(client.unary('KV', 'Range', { key: Buffer.from('/public'), range_end: Buffer.alloc(0) })).rejects.toMatchObject({ code: 7 });
      const straight = await attack.direct.unary('KV', 'Range', { key: Buffer.from('/public'), range_end: Buffer.alloc(0) });
      expect((straight.kvs as { key: Buffer }[]).map((kv) => kv.key.toString())).toContain('/secret/k');
    } finally {
      client.close();
    }
  });

  it('refuses a delete of a prefix holding a stricter subtree (/conftool/locked)', async () => {
    expectPermissionDenied(await attack.etcdctl(['del', '--prefix', '/conftool/'], { user: conftool }));
    await attack.expectUnchanged();
  });

  it('refuses prev_kv on a Put of a key the user may write but not read', async () => {
    expectPermissionDenied(await attack.etcdctl(['put', '/conftool/private/k', 'overwritten', '--prev-kv'], { user: conftool }));
    await attack.expectUnchanged();
  });

  it('refuses prev_kv on a DeleteRange of a key the user may write but not read', async () => {
    expectPermissionDenied(await attack.etcdctl(['del', '/conftool/private/k', '--prev-kv'], { user: conftool }));
    await attack.expectUnchanged();
  });
});

describe('transactions', () => {
  it('refuses a Txn comparing an unreadable key (the compare result would leak it)', async () => {
    const input = 'value("/secret/k") = "the secret"\n\nput /conftool/t guessed\n\n\n';
    expectPermissionDenied(await attack.etcdctl(['txn', '--interactive'], { user: conftool, input }));
    await attack.expectUnchanged();
  });

  it('refuses a Txn writing outside in its failure branch', async () => {
    const input = 'value("/conftool/a") = "a"\n\nput /conftool/t ok\n\nput /other taken\n\n';
    expectPermissionDenied(await attack.etcdctl(['txn', '--interactive'], { user: conftool, input }));
    await attack.expectUnchanged();
  });

  it('refuses a Txn writing outside in its success branch', async () => {
    const input = '\ndel /other\n\n\n';
    expectPermissionDenied(await attack.etcdctl(['txn', '--interactive'], { user: conftool, input }));
    await attack.expectUnchanged();
  });

  it('refuses a nested Txn writing outside (etcd <= 3.4.41 never checked nested ops)', async () => {
    const client = await rawEtcd(attack.endpoint, await tokenFor(attack.endpoint, 'conftool', users.conftool));
    try {
      const nested = { success: [{ request_txn: { failure: [{ request_put: { key: Buffer.from('/other'), value: Buffer.from('taken') } }] } }] };
      await expect(client.unary('KV', 'Txn', { success: [{ request_txn: nested }] })).rejects.toMatchObject({ code: 7, details: 'etcdserver: permission denied' });
    } finally {
      client.close();
    }
    await attack.expectUnchanged();
  });

  it('allows a nested Txn that stays inside', async () => {
    const client = await rawEtcd(attack.endpoint, await tokenFor(attack.endpoint, 'conftool', users.conftool));
    try {
      await client.unary('KV', 'Txn', { success: [{ request_txn: { success: [{ request_put: { key: Buffer.from('/conftool/nested'), value: Buffer.from('ok') } }] } }] });
    } finally {
      client.close();
    }
    expect((await allKeys(attack.direct)).get('/conftool/nested')).toBe('ok');
  });
});

describe('watches', () => {
  it('refuses a watch with prev_kv on a key the user may not read, answering as etcd does (created and canceled)', async () => {
    const client = await rawEtcd(attack.endpoint, await tokenFor(attack.endpoint, 'conftool', users.conftool));
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
    const granted = await attack.etcdctl(['lease', 'grant', '600'], { user: alice });
    const id = /lease ([0-9a-f]+) granted/.exec(granted.stdout)?.[1];
    if (id === undefined) throw new Error(`no lease: ${granted.stdout} ${granted.stderr}`);
    expect((await attack.etcdctl(['put', '/alice/session', 'here', `--lease=${id}`], { user: alice })).code).toBe(0);
    return id;
  }

  it('refuses a revoke by another user of a lease holding alice\'s key, and the key stays', async () => {
    const id = await aliceLease();
    expectPermissionDenied(await attack.etcdctl(['lease', 'revoke', id], { user: bob }));
    expect((await allKeys(attack.direct)).get('/alice/session')).toBe('here');
    expect((await attack.etcdctl(['lease', 'revoke', id], { user: alice })).code).toBe(0);
    expect((await allKeys(attack.direct)).has('/alice/session')).toBe(false);
  });

  it('refuses a keep-alive by another user of a lease holding alice\'s key; alice keeps it alive', async () => {
    const id = await aliceLease();
    const byBob = await attack.etcdctl(['lease', 'keep-alive', '--once', id], { user: bob });
    expect(byBob.code).not.toBe(0);
    expect(byBob.stderr).toContain('permission denied');
    expect((await attack.etcdctl(['lease', 'keep-alive', '--once', id], { user: alice })).stdout).toContain('keepalived with TTL');
  });

  it('refuses TimeToLive with keys to a user who may not read the attached keys', async () => {
    const id = await aliceLease();
    expectPermissionDenied(await attack.etcdctl(['lease', 'timetolive', id, '--keys'], { user: bob }));
    expect((await attack.etcdctl(['lease', 'timetolive', id, '--keys'], { user: alice })).stdout).toContain('/alice/session');
  });

  it('refuses attaching a key to a lease that holds keys the user may not write', async () => {
    const id = await aliceLease();
    expectPermissionDenied(await attack.etcdctl(['put', '/bob/k', 'v', `--lease=${id}`], { user: bob }));
    expect((await allKeys(attack.direct)).has('/bob/k')).toBe(false);
  });
});
