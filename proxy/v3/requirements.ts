// What one v3 request needs, from its decoded message: etcd's own RBAC table
// (server/etcdserver/apply/auth.go, v3_server.go) with the holes etcd fixed
// only in 2026 closed, the order being "normalise, then decide on the whole
// interval, and recurse into everything":
//   Range                read on the range
//   Put                  write on the key; + read if prev_kv; + write on every
//                        key already attached to its lease (checkLeasePuts)
//   DeleteRange          write on the range; + read if prev_kv
//   Txn                  read on every compare's range; every op of both
//                        branches by these rules, nested Txns included
//                        (CVE-2026-33343: etcd <= 3.4.41 skipped them)
//   Watch (per create)   read on the range, "\0" normalised first
//   LeaseGrant           a caller who may write some key
//   LeaseRevoke          that, + write on every attached key (revoking deletes them)
//   LeaseKeepAlive       write on every attached key (per message)
//   LeaseTimeToLive      read on every attached key (keys=true lists them)
//   LeaseLeases          read on the keys attached to every lease
//   MemberList, Status, Alarm GET: nothing (they say nothing about keys)
//   Compact, member changes, alarm changes, Defragment, Hash, HashKV,
//   Snapshot, MoveLeader, Downgrade, etcd's user and role API: an admin
//   AuthEnable           refused to everyone: etcd runs without auth behind
//                        us, and enabling it would lock the proxy out
// Pure: lease-attached keys are named here (by lease ID) and looked up by
// the caller; see lease-keys.ts.
import { EtcdGrpcError, GrpcCode } from '../../mirror/etcd/v3/errors.js';
import { keyRange, keySuccessor, watchKeyRange, type KeyRange } from '../../mirror/etcd/v3/key-range.js';
import { boolField, bytesField, enumField, int64Field, maxNesting, messageField, repeatedMessages, type MessageView } from './message.js';

export type KeyAccess = 'read' | 'write';

export interface LeaseNeed {
  /** The lease ID, decimal. */
  readonly lease: string;
  readonly access: KeyAccess;
}

export interface Requirements {
  readonly reads: readonly KeyRange[];
  readonly writes: readonly KeyRange[];
  /** Access needed on every key attached to these leases. */
  readonly leaseKeys: readonly LeaseNeed[];
  /** Access needed on the keys of every lease in the cluster (LeaseLeases). */
  readonly everyLeaseKeys: KeyAccess | undefined;
  readonly admin: boolean;
  /** The caller must be allowed to write at least one key. */
  readonly writer: boolean;
  /** Changes etcd's state: refused while the read-only switch is on. */
  readonly mutates: boolean;
  /** Refused whoever asks. */
  readonly refusal: EtcdGrpcError | undefined;
}

class Needs {
  readonly reads: KeyRange[] = [];
  readonly writes: KeyRange[] = [];
  readonly leaseKeys: LeaseNeed[] = [];
  everyLeaseKeys: KeyAccess | undefined;
  admin = false;
  writer = false;
  mutates = false;
  refusal: EtcdGrpcError | undefined;

  adminChange(): void {
    this.admin = true;
    this.mutates = true;
  }

  lease(view: MessageView, field: string, access: KeyAccess): void {
    const lease = int64Field(view, field);
    if (lease !== '0') this.leaseKeys.push({ lease, access });
  }

  build(): Requirements {
    return { ...this, reads: [...this.reads], writes: [...this.writes], leaseKeys: [...this.leaseKeys] };
  }
}

function range(view: MessageView): KeyRange {
  return keyRange(bytesField(view, 'key'), bytesField(view, 'range_end'));
}

function singleKey(view: MessageView): KeyRange {
  const key = bytesField(view, 'key');
  return { start: key, end: keySuccessor(key) };
}

function put(needs: Needs, view: MessageView): void {
  needs.mutates = true;
  needs.writes.push(singleKey(view));
  if (boolField(view, 'prev_kv')) needs.reads.push(singleKey(view));
  // Whatever ignore_lease says: a non-zero lease with it is an error in etcd,
  // and asking for more than etcd acts on is never a hole.
  needs.lease(view, 'lease', 'write');
}

function deleteRange(needs: Needs, view: MessageView): void {
  needs.mutates = true;
  needs.writes.push(range(view));
  if (boolField(view, 'prev_kv')) needs.reads.push(range(view));
}

function txn(needs: Needs, view: MessageView, depth: number): void {
  if (depth > maxNesting) throw new RangeError(`Txn nested more than ${maxNesting} levels deep`);
  for (const compare of repeatedMessages(view, 'compare')) needs.reads.push(range(compare));
  for (const op of [...repeatedMessages(view, 'success'), ...repeatedMessages(view, 'failure')]) {
    const rangeOp = messageField(op, 'request_range');
    const putOp = messageField(op, 'request_put');
    const deleteOp = messageField(op, 'request_delete_range');
    const txnOp = messageField(op, 'request_txn');
    if (rangeOp !== undefined) needs.reads.push(range(rangeOp));
    if (putOp !== undefined) put(needs, putOp);
    if (deleteOp !== undefined) deleteRange(needs, deleteOp);
    if (txnOp !== undefined) txn(needs, txnOp, depth + 1);
  }
}

// etcd's AlarmRequest.AlarmAction: GET = 0 lists alarms; ACTIVATE and
// DEACTIVATE raise or clear one (a NOSPACE alarm stops every write).
const alarmGet = 0;

const readOnlyAuthMethods = new Set(['AuthStatus', 'UserGet', 'UserList', 'RoleGet', 'RoleList']);

const byMethod: Readonly<Record<string, (needs: Needs, view: MessageView) => void>> = {
  'KV/Range': (needs, view) => needs.reads.push(range(view)),
  'KV/Put': put,
  'KV/DeleteRange': deleteRange,
  'KV/Txn': (needs, view) => txn(needs, view, 0),
  'KV/Compact': (needs) => needs.adminChange(),
  'Watch/Watch': (needs, view) => {
    const create = messageField(view, 'create_request');
    // Cancel and progress requests concern watches this stream already holds.
    if (create !== undefined) needs.reads.push(watchKeyRange(bytesField(create, 'key'), bytesField(create, 'range_end')));
  },
  'Lease/LeaseGrant': (needs) => {
    needs.writer = true;
    needs.mutates = true;
  },
  'Lease/LeaseRevoke': (needs, view) => {
    needs.writer = true;
    needs.mutates = true;
    needs.lease(view, 'ID', 'write');
  },
  // Keeping a lease alive changes nothing: it goes on under read-only.
  'Lease/LeaseKeepAlive': (needs, view) => needs.lease(view, 'ID', 'write'),
  'Lease/LeaseTimeToLive': (needs, view) => needs.lease(view, 'ID', 'read'),
  'Lease/LeaseLeases': (needs) => {
    needs.everyLeaseKeys = 'read';
  },
  'Cluster/MemberList': () => undefined,
  'Maintenance/Status': () => undefined,
  'Maintenance/Alarm': (needs, view) => {
    if (enumField(view, 'action') !== alarmGet) needs.adminChange();
  },
  'Maintenance/Defragment': (needs) => {
    needs.admin = true;
  },
  'Maintenance/Hash': (needs) => {
    needs.admin = true;
  },
  'Maintenance/HashKV': (needs) => {
    needs.admin = true;
  },
  'Maintenance/Snapshot': (needs) => {
    needs.admin = true;
  },
  'Auth/AuthEnable': (needs) => {
    needs.adminChange();
    needs.refusal = new EtcdGrpcError(
      GrpcCode.FailedPrecondition,
      "etcd-warden: etcd's own authentication stays off behind the proxy (users and ACLs are the proxy's); enabling it would lock the proxy out",
    );
  },
};

/**
 * The needs of one request message of `methodName` (Service/Method). A
 * method this table does not name (member and user changes, anything new)
 * needs an admin and counts as a change.
 */
export function requirementsOf(methodName: string, view: MessageView): Requirements {
  const needs = new Needs();
  const rule = byMethod[methodName];
  if (rule !== undefined) rule(needs, view);
  else if (methodName.startsWith('Auth/') && readOnlyAuthMethods.has(methodName.slice('Auth/'.length))) needs.admin = true;
  else needs.adminChange();
  return needs.build();
}

/** For methods the .proto files do not define (lock, election, anything newer). */
export function unknownMethodRequirements(): Requirements {
  const needs = new Needs();
  needs.adminChange();
  return needs.build();
}
