// The v3 decision, in SPEC §1's order: refusals, the read-only switch, the
// caller's token, admin-only methods, then every key the request can touch.
// Keys attached to leases are the one fact that lives in etcd: when the
// decision depends on them it says which to look up (`lookup`), and the
// caller asks etcd (lease-keys.ts) and decides again with the answer.
// Pure: no I/O.
import { EtcdGrpcError, GrpcCode, invalidAuthToken, permissionDenied } from '../../mirror/etcd/v3/errors.js';
import { everyKey, keySuccessor, type KeyRange } from '../../mirror/etcd/v3/key-range.js';
import { compileKeyAcl, mayRead, mayWrite, mayWriteSomewhere, type KeyAcl, type KeyIdentity } from './key-acl.js';
import type { KeyAccess, Requirements } from './requirements.js';

export interface V3Policy {
  readonly readOnly: boolean;
  readonly write: KeyAcl;
  readonly read: KeyAcl;
  readonly admins: ReadonlySet<string>;
}

/** The config's maps, as v2 reads them (`acls`, `readAcls`, `admins`). */
export interface V3PolicySource {
  readonly readOnly: boolean;
  readonly acls: Readonly<Record<string, readonly string[]>>;
  readonly readAcls: Readonly<Record<string, readonly string[]>>;
  readonly admins: readonly string[];
}

export function compileV3Policy(source: V3PolicySource): V3Policy {
  return { readOnly: source.readOnly, write: compileKeyAcl(source.acls), read: compileKeyAcl(source.readAcls), admins: new Set(source.admins) };
}

/** `invalid-token`: a token was sent and is not one we issued, or it expired. */
export type V3Identity = KeyIdentity | { readonly kind: 'invalid-token' };

/** The same labels as v2's access log and metrics. */
export type V3DecisionLabel = 'allowed' | 'denied-auth' | 'denied-readonly' | 'denied-acl' | 'denied-limit' | 'bad-request';

export type V3Decision =
  | { readonly kind: 'allow'; readonly label: 'allowed'; readonly user: string | undefined }
  | { readonly kind: 'deny'; readonly label: V3DecisionLabel; readonly error: EtcdGrpcError; readonly reason: string }
  | { readonly kind: 'lookup'; readonly leases: readonly string[]; readonly everyLease: boolean };

/** What etcd said is attached: by lease ID, and (for LeaseLeases) to any lease. */
export interface AttachedKeys {
  readonly byLease: ReadonlyMap<string, readonly Buffer[]>;
  readonly everyLease: readonly Buffer[] | undefined;
}

export const noAttachedKeys: AttachedKeys = { byLease: new Map(), everyLease: undefined };

export const readOnlyMessage = "etcd-warden: this cluster is in read-only mode (the proxy's readOnly switch is on)";

function deny(label: V3DecisionLabel, error: EtcdGrpcError, reason: string): V3Decision {
  return { kind: 'deny', label, error, reason };
}

function permitted(policy: V3Policy, access: KeyAccess, range: KeyRange, identity: KeyIdentity): boolean {
  return access === 'read' ? mayRead(policy.read, range, identity) : mayWrite(policy.write, range, identity);
}

function keysPermitted(policy: V3Policy, access: KeyAccess, keys: readonly Buffer[], identity: KeyIdentity): boolean {
  return keys.every((key) => permitted(policy, access, { start: key, end: keySuccessor(key) }, identity));
}

export function decide(needs: Requirements, identity: V3Identity, policy: V3Policy, attached: AttachedKeys = noAttachedKeys): V3Decision {
  if (needs.refusal !== undefined) return deny('denied-acl', needs.refusal, needs.refusal.message);
  if (policy.readOnly && needs.mutates) {
    return deny('denied-readonly', new EtcdGrpcError(GrpcCode.FailedPrecondition, readOnlyMessage), 'read-only switch');
  }
  if (identity.kind === 'invalid-token') return deny('denied-auth', invalidAuthToken(), 'invalid or expired token');
  const who = identity.kind === 'user' ? `user ${identity.user}` : 'anonymous';
  if (needs.admin && !(identity.kind === 'user' && policy.admins.has(identity.user))) {
    return deny('denied-acl', permissionDenied(), `${who} is not an admin`);
  }
  if (needs.writer && !mayWriteSomewhere(policy.write, identity)) return deny('denied-acl', permissionDenied(), `${who} may write no key`);
  for (const range of needs.writes) {
    if (!permitted(policy, 'write', range, identity)) return deny('denied-acl', permissionDenied(), `${who} may not write the range`);
  }
  for (const range of needs.reads) {
    if (!permitted(policy, 'read', range, identity)) return deny('denied-acl', permissionDenied(), `${who} may not read the range`);
  }

  // A caller allowed on the whole keyspace needs no lookup: every attached key is in it.
  const toLookUp: string[] = [];
  for (const { lease, access } of needs.leaseKeys) {
    if (permitted(policy, access, everyKey, identity)) continue;
    const keys = attached.byLease.get(lease);
    if (keys === undefined) toLookUp.push(lease);
    else if (!keysPermitted(policy, access, keys, identity)) {
      return deny('denied-acl', permissionDenied(), `${who} may not ${access} a key attached to lease ${lease}`);
    }
  }
  let everyLease = false;
  if (needs.everyLeaseKeys !== undefined && !permitted(policy, needs.everyLeaseKeys, everyKey, identity)) {
    if (attached.everyLease === undefined) everyLease = true;
    else if (!keysPermitted(policy, needs.everyLeaseKeys, attached.everyLease, identity)) {
      return deny('denied-acl', permissionDenied(), `${who} may not ${needs.everyLeaseKeys} a key attached to some lease`);
    }
  }
  if (toLookUp.length > 0 || everyLease) return { kind: 'lookup', leases: toLookUp, everyLease };
  return { kind: 'allow', label: 'allowed', user: identity.kind === 'user' ? identity.user : undefined };
}
