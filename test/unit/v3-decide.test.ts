import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { GrpcCode } from '../../mirror/etcd/v3/errors.js';
import { compileV3Policy, decide, type AttachedKeys, type V3Identity } from '../../proxy/v3/decide.js';
import { decodeMessage, encodeMessage, type DecodedMessage } from '../../proxy/v3/message.js';
import { etcdMethods } from '../../proxy/v3/methods.js';
import { requirementsOf } from '../../proxy/v3/requirements.js';

const b = (text: string): Buffer => Buffer.from(text, 'latin1');
const conftool: V3Identity = { kind: 'user', user: 'conftool' };
const root: V3Identity = { kind: 'user', user: 'root' };
const anonymous: V3Identity = { kind: 'anonymous' };

const policy = compileV3Policy({
  readOnly: false,
  acls: { '/': ['root'], '/conftool': ['root', 'conftool'], '/conftool/locked': ['root'], '/open': [] },
  readAcls: { '/secret': ['root'] },
  admins: ['root'],
});

function decoded(methodName: string, object: Record<string, unknown>): DecodedMessage {
  const method = [...etcdMethods().byPath.values()].find((m) => m.name === methodName);
  if (method === undefined) throw new Error(`no method ${methodName}`);
  const bytes = method.requestType.encode(method.requestType.fromObject(object)).finish();
  const result = decodeMessage(method.requestType, bytes);
  if (result instanceof Error) throw result;
  return result;
}

function outcome(methodName: string, object: Record<string, unknown>, identity: V3Identity, attached?: AttachedKeys): string {
  const decision = decide(requirementsOf(methodName, decoded(methodName, object).view), identity, policy, attached);
  if (decision.kind === 'deny') return `deny ${decision.error.code}`;
  return decision.kind;
}

const put = (key: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({ key: b(key), value: b('v'), ...extra });
const denied = `deny ${GrpcCode.PermissionDenied}`;

describe('what each v3 operation needs', () => {
  it.each<[string, string, Record<string, unknown>, V3Identity, string]>([
    ['Range inside a readable prefix', 'KV/Range', { key: b('/conftool/a') }, anonymous, 'allow'],
    ['Range of an unreadable key', 'KV/Range', { key: b('/secret/a') }, anonymous, denied],
    ['Range with "\\0" from a readable key reaches /secret', 'KV/Range', { key: b('/public'), range_end: b('\0') }, anonymous, denied],
    ['Put on the segment boundary /conftoolx', 'KV/Put', put('/conftoolx'), conftool, denied],
    ['Put inside the prefix', 'KV/Put', put('/conftool/a'), conftool, 'allow'],
    ['Put with prev_kv on an unreadable key', 'KV/Put', put('/secret/a', { prev_kv: true }), conftool, denied],
    ['Put by anonymous under an open rule', 'KV/Put', put('/open/a'), anonymous, 'allow'],
    ['DeleteRange over a stricter subtree', 'KV/DeleteRange', { key: b('/conftool/'), range_end: b('/conftool0') }, conftool, denied],
    ['DeleteRange with "\\0" from a writable key', 'KV/DeleteRange', { key: b('/conftool/a'), range_end: b('\0') }, conftool, denied],
    ['DeleteRange with prev_kv over an unreadable key', 'KV/DeleteRange', { key: b('/secret/a'), prev_kv: true }, root, 'allow'],
    ['Txn comparing an unreadable key', 'KV/Txn', { compare: [{ key: b('/secret/a'), target: 3, value: b('x') }] }, conftool, denied],
    ['Txn writing outside in the failure branch', 'KV/Txn', { failure: [{ request_put: put('/other') }] }, conftool, denied],
    ['Txn writing outside in the success branch', 'KV/Txn', { success: [{ request_delete_range: { key: b('/other') } }] }, conftool, denied],
    [
      'nested Txn writing outside',
      'KV/Txn',
      { success: [{ request_txn: { success: [{ request_txn: { failure: [{ request_put: put('/other') }] } }] } }] },
      conftool,
      denied,
    ],
    ['nested Txn inside the prefix', 'KV/Txn', { success: [{ request_txn: { success: [{ request_put: put('/conftool/a') }] } }] }, conftool, 'allow'],
    ['Txn with a range op on an unreadable key', 'KV/Txn', { success: [{ request_range: { key: b('/secret/a') } }] }, conftool, denied],
    ['Watch on a readable key', 'Watch/Watch', { create_request: { key: b('/public/a') } }, anonymous, 'allow'],
    ['Watch with "\\0" from a readable key', 'Watch/Watch', { create_request: { key: b('/public'), range_end: b('\0') } }, anonymous, denied],
    ['Watch of the empty key with "\\0" is every key', 'Watch/Watch', { create_request: { key: b(''), range_end: b('\0') } }, anonymous, denied],
    ['Watch cancel needs nothing', 'Watch/Watch', { cancel_request: { watch_id: 3 } }, anonymous, 'allow'],
    ['Compact by a non-admin', 'KV/Compact', { revision: 5 }, conftool, denied],
    ['Compact by an admin', 'KV/Compact', { revision: 5 }, root, 'allow'],
    ['MemberAdd by a non-admin', 'Cluster/MemberAdd', { peerURLs: ['http://x:1'] }, conftool, denied],
    ['MemberList by anyone', 'Cluster/MemberList', {}, anonymous, 'allow'],
    ['Alarm activate by a non-admin', 'Maintenance/Alarm', { action: 1, alarm: 1 }, conftool, denied],
    ['Alarm list by anyone', 'Maintenance/Alarm', { action: 0 }, anonymous, 'allow'],
    ['Defragment by a non-admin', 'Maintenance/Defragment', {}, conftool, denied],
    ['Snapshot by a non-admin', 'Maintenance/Snapshot', {}, conftool, denied],
    ['HashKV by a non-admin', 'Maintenance/HashKV', {}, conftool, denied],
    ['MoveLeader by a non-admin', 'Maintenance/MoveLeader', { targetID: 1 }, conftool, denied],
    ['UserAdd by a non-admin', 'Auth/UserAdd', { name: 'x', password: 'y' }, conftool, denied],
    ['UserList by an admin', 'Auth/UserList', {}, root, 'allow'],
    ['AuthEnable even by an admin', 'Auth/AuthEnable', {}, root, `deny ${GrpcCode.FailedPrecondition}`],
    ['LeaseGrant by anonymous where an open rule exists', 'Lease/LeaseGrant', { TTL: 10 }, anonymous, 'allow'],
  ])('%s', (_name, methodName, message, identity, expected) => {
    expect(outcome(methodName, message, identity)).toBe(expected);
  });

  it('LeaseGrant needs a caller who may write some key', () => {
    const closed = compileV3Policy({ readOnly: false, acls: { '/conftool': ['conftool'] }, readAcls: {}, admins: [] });
    const grant = requirementsOf('Lease/LeaseGrant', decoded('Lease/LeaseGrant', { TTL: 10 }).view);
    expect(decide(grant, anonymous, closed)).toMatchObject({ kind: 'deny', error: { code: GrpcCode.PermissionDenied } });
    expect(decide(grant, conftool, closed)).toMatchObject({ kind: 'allow' });
  });

  it('an invalid token is refused with etcd\'s "invalid auth token", so clients authenticate again', () => {
    const decision = decide(requirementsOf('KV/Range', decoded('KV/Range', { key: b('/public') }).view), { kind: 'invalid-token' }, policy);
    expect(decision).toMatchObject({ kind: 'deny', label: 'denied-auth', error: { code: GrpcCode.Unauthenticated, message: 'etcdserver: invalid auth token' } });
  });
});

describe('keys attached to leases', () => {
  const keys = (lease: string, ...attached: string[]): AttachedKeys => ({ byLease: new Map([[lease, attached.map(b)]]), everyLease: undefined });

  it.each<[string, string, Record<string, unknown>, V3Identity, AttachedKeys, string]>([
    ['KeepAlive of a lease holding an unwritable key', 'Lease/LeaseKeepAlive', { ID: 7 }, conftool, keys('7', '/other'), denied],
    ['KeepAlive of a lease holding own keys', 'Lease/LeaseKeepAlive', { ID: 7 }, conftool, keys('7', '/conftool/a'), 'allow'],
    ['Revoke of a lease holding an unwritable key', 'Lease/LeaseRevoke', { ID: 7 }, conftool, keys('7', '/conftool/locked/x'), denied],
    ['Put attaching to a lease holding an unwritable key', 'KV/Put', put('/conftool/a', { lease: 7 }), conftool, keys('7', '/other'), denied],
    ['TimeToLive of a lease holding an unreadable key', 'Lease/LeaseTimeToLive', { ID: 7, keys: true }, anonymous, keys('7', '/secret/a'), denied],
    ['TimeToLive of a lease holding readable keys', 'Lease/LeaseTimeToLive', { ID: 7, keys: true }, anonymous, keys('7', '/public'), 'allow'],
  ])('%s', (_name, methodName, message, identity, attached, expected) => {
    expect(outcome(methodName, message, identity, attached)).toBe(expected);
  });

  it('asks for a lookup before deciding, unless the caller may act on every key anyway', () => {
    expect(decide(requirementsOf('Lease/LeaseKeepAlive', decoded('Lease/LeaseKeepAlive', { ID: 7 }).view), conftool, policy)).toEqual({
      kind: 'lookup',
      leases: ['7'],
      everyLease: false,
    });
    expect(outcome('Lease/LeaseKeepAlive', { ID: 7 }, root)).toBe('allow');
    // With no read rule covering everything, anonymous may read every key... except /secret.
    expect(decide(requirementsOf('Lease/LeaseLeases', decoded('Lease/LeaseLeases', {}).view), anonymous, policy)).toMatchObject({ kind: 'lookup', everyLease: true });
  });

  it('lease IDs beyond 2^53 stay exact', () => {
    const id = '7587869405937483012';
    const decision = decide(requirementsOf('Lease/LeaseKeepAlive', decoded('Lease/LeaseKeepAlive', { ID: id }).view), conftool, policy);
    expect(decision).toMatchObject({ kind: 'lookup', leases: [id] });
  });
});

describe('the read-only switch', () => {
  const readOnly = compileV3Policy({ readOnly: true, acls: { '/': ['root'] }, readAcls: {}, admins: ['root'] });
  const decideReadOnly = (methodName: string, object: Record<string, unknown>): string => {
    const decision = decide(requirementsOf(methodName, decoded(methodName, object).view), root, readOnly);
    return decision.kind === 'deny' ? decision.label : decision.kind;
  };

  it.each<[string, Record<string, unknown>, string]>([
    ['KV/Put', put('/a'), 'denied-readonly'],
    ['KV/DeleteRange', { key: b('/a') }, 'denied-readonly'],
    ['KV/Txn', { failure: [{ request_txn: { success: [{ request_put: put('/a') }] } }] }, 'denied-readonly'],
    ['KV/Txn', { compare: [{ key: b('/a') }], success: [{ request_range: { key: b('/a') } }] }, 'allow'],
    ['KV/Range', { key: b('/a') }, 'allow'],
    ['Watch/Watch', { create_request: { key: b('/a') } }, 'allow'],
    ['Lease/LeaseKeepAlive', { ID: 1 }, 'allow'],
    ['Lease/LeaseGrant', { TTL: 5 }, 'denied-readonly'],
    ['Lease/LeaseRevoke', { ID: 1 }, 'denied-readonly'],
    ['KV/Compact', { revision: 2 }, 'denied-readonly'],
    ['Cluster/MemberRemove', { ID: 1 }, 'denied-readonly'],
    ['Auth/UserAdd', { name: 'x' }, 'denied-readonly'],
    ['Maintenance/Snapshot', {}, 'allow'],
  ])('%s %j: %s', (methodName, object, expected) => {
    expect(decideReadOnly(methodName, object)).toBe(expected);
  });

  it('names the switch in a FAILED_PRECONDITION', () => {
    const decision = decide(requirementsOf('KV/Put', decoded('KV/Put', put('/a')).view), root, readOnly);
    expect(decision).toMatchObject({ kind: 'deny', error: { code: GrpcCode.FailedPrecondition } });
    expect(decision.kind === 'deny' && decision.error.message).toMatch(/read-only mode.*readOnly/);
  });
});

describe('decoding', () => {
  const txnType = etcdMethods().byPath.get('/etcdserverpb.KV/Txn')?.requestType;
  if (txnType === undefined) throw new Error('no Txn');

  it('refuses a RequestOp with two members of its oneof, which Go and protobufjs read differently', () => {
    // request_range (field 1) then request_put (field 2) in one RequestOp.
    const range = etcdMethods().byPath.get('/etcdserverpb.KV/Range')?.requestType.encode({ key: b('/conftool/a') }).finish() ?? new Uint8Array();
    const putBytes = etcdMethods().byPath.get('/etcdserverpb.KV/Put')?.requestType.encode({ key: b('/other') }).finish() ?? new Uint8Array();
    const op = Buffer.concat([Buffer.from([0x0a, range.length]), range, Buffer.from([0x12, putBytes.length]), putBytes]);
    const txn = Buffer.concat([Buffer.from([0x12, op.length]), op]);
    const result = decodeMessage(txnType, txn);
    expect(result).toBeInstanceOf(Error);
    expect(result instanceof Error && result.message).toMatch(/request_range, request_put/);
  });

  it('re-encodes without unknown fields', () => {
    const rangeType = etcdMethods().byPath.get('/etcdserverpb.KV/Range')?.requestType;
    if (rangeType === undefined) throw new Error('no Range');
    const known = rangeType.encode({ key: b('/a') }).finish();
    // Field 99, varint 1: unknown to etcd 3.4's proto.
    const withUnknown = Buffer.concat([known, Buffer.from([0x98, 0x06, 0x01])]);
    const result = decodeMessage(rangeType, withUnknown);
    if (result instanceof Error) throw result;
    expect(encodeMessage(rangeType, result.message)).toEqual(Buffer.from(known));
  });

  it('decides on "every key >= key" for a range_end present on the wire but empty (etcd serves a Range so), and forwards it untouched', () => {
    const rangeType = etcdMethods().byPath.get('/etcdserverpb.KV/Range')?.requestType;
    if (rangeType === undefined) throw new Error('no Range');
    // Field 2 (range_end), length 0: what protobufjs writes for an empty Buffer, and gogo omits.
    const bytes = Buffer.concat([Buffer.from(rangeType.encode({ key: b('/public') }).finish()), Buffer.from([0x12, 0x00])]);
    const result = decodeMessage(rangeType, bytes);
    if (result instanceof Error) throw result;
    expect(decide(requirementsOf('KV/Range', result.view), anonymous, policy)).toMatchObject({ kind: 'deny' });
    expect(encodeMessage(rangeType, result.message)).toEqual(bytes);
    const absent = decodeMessage(rangeType, rangeType.encode({ key: b('/public') }).finish());
    if (absent instanceof Error) throw absent;
    expect(decide(requirementsOf('KV/Range', absent.view), anonymous, policy)).toMatchObject({ kind: 'allow' });
  });

  it('refuses a Txn nested deeper than the bound', () => {
    // Built by hand: protobufjs's own encoder stops at the same depth.
    let bytes: Uint8Array = txnType.encode({ success: [{ request_put: put('/a') }] }).finish();
    for (let i = 0; i < 70; i++) {
      const op = protobuf.Writer.create().uint32((4 << 3) | 2).bytes(bytes).finish(); // RequestOp.request_txn
      bytes = protobuf.Writer.create().uint32((2 << 3) | 2).bytes(op).finish(); // TxnRequest.success
    }
    const result = decodeMessage(txnType, bytes);
    expect(result).toBeInstanceOf(Error);
  });

  it('a gRPC path table from etcd\'s .proto files, with the gateway paths', () => {
    const table = etcdMethods();
    expect(table.byPath.get('/etcdserverpb.KV/Range')?.gatewayPaths).toEqual(['/v3/kv/range']);
    expect(table.byGatewayPath.get('/v3/kv/lease/revoke')?.name).toBe('Lease/LeaseRevoke');
    expect(table.byPath.get('/etcdserverpb.Watch/Watch')).toMatchObject({ requestStream: true, responseStream: true });
    expect(table.byPath.get('/etcdserverpb.Maintenance/Snapshot')).toMatchObject({ requestStream: false, responseStream: true });
  });
});
