// Source revisions → destination Txns. Pure: no network.
//
// Each Txn compares the recorded revision, compares every key it writes with
// the state the source had before, writes, and records the last revision it
// carries, all or nothing. Several consecutive revisions share one Txn when
// they fit (group commit: a destination Txn costs a raft round and an fsync,
// so one per revision caps out near make-mirror's ~1,000-1,650 revisions/s):
// the record stays exact because the Txn applies every revision up to it or
// none. A batch ends before a revision that writes a key the batch already
// writes (etcd refuses a Txn that writes one key twice, and one key's
// successive values stay visible to destination watchers as on the source).
import { intervalsOverlap, type KeyBytes, type KeyInterval } from '../etcd/v3/keys.js';
import type { Compare, RequestOp, TxnRequest } from '../etcd/v3/types.js';
import { writtenIntervals, type Expected, type PlannedWrite, type RevisionChange } from './plan.js';

export const txnLimits = {
  /** etcd's --max-txn-ops default: compares, success ops and failure ops each. */
  operations: 128,
  /** Below etcd's --max-request-bytes default (1.5 MiB), leaving room for keys and framing. */
  requestBytes: 1024 * 1024,
  /**
   * Larger previous values are not compared inline: a Txn comparing a 1 MiB
   * value and writing a 1 MiB one is refused for size (measured). Those keys
   * are read first and compared by mod_revision instead (checked.ts).
   */
  inlineCompareBytes: 4 * 1024,
} as const;

export type Batch =
  /** Revisions whose compares go inline, in one Txn. */
  | { readonly kind: 'inline'; readonly changes: readonly RevisionChange[] }
  /** One revision that must read the destination first (large values, or more keys than a Txn compares). */
  | { readonly kind: 'checked'; readonly change: RevisionChange };

function singleKeyWrites(change: RevisionChange): number {
  return change.writes.filter((write) => write.op !== 'deleteRange').length;
}

function requestBytes(change: RevisionChange): number {
  let bytes = 0;
  for (const write of change.writes) {
    if (write.op === 'deleteRange') bytes += write.interval.start.length + write.interval.end.length + 16;
    else bytes += write.key.length * 2 + (write.op === 'put' ? write.value.length : 0) + (write.expected.kind === 'value' ? write.expected.value.length : 0) + 24;
  }
  return bytes;
}

/** A revision that cannot go inline: too many keys for the compare list, or a previous value too large to compare. */
export function needsCheck(change: RevisionChange): boolean {
  if (singleKeyWrites(change) + 1 > txnLimits.operations || change.writes.length + 1 > txnLimits.operations) return true;
  return change.writes.some((write) => write.op !== 'deleteRange' && write.expected.kind === 'value' && write.expected.value.length > txnLimits.inlineCompareBytes);
}

/** The longest run of queued revisions, from the front, that one Txn can carry. */
export function takeBatch(queue: readonly RevisionChange[]): Batch | undefined {
  const first = queue[0];
  if (first === undefined) return undefined;
  if (needsCheck(first)) return { kind: 'checked', change: first };
  const changes: RevisionChange[] = [];
  // The record's own compare and put.
  let compares = 1;
  let operations = 1;
  let bytes = 0;
  const keys = new Set<KeyBytes>();
  const ranges: KeyInterval[] = [];
  for (const change of queue) {
    if (needsCheck(change)) break;
    const addedCompares = singleKeyWrites(change);
    const addedBytes = requestBytes(change);
    const fits = compares + addedCompares <= txnLimits.operations && operations + change.writes.length <= txnLimits.operations && bytes + addedBytes <= txnLimits.requestBytes;
    if (changes.length > 0 && (!fits || touchesAny(change, keys, ranges))) break;
    changes.push(change);
    compares += addedCompares;
    operations += change.writes.length;
    bytes += addedBytes;
    for (const write of change.writes) {
      if (write.op === 'deleteRange') ranges.push(write.interval);
      else keys.add(write.key);
    }
  }
  return { kind: 'inline', changes };
}

function touchesAny(change: RevisionChange, keys: ReadonlySet<KeyBytes>, ranges: readonly KeyInterval[]): boolean {
  for (const interval of writtenIntervals(change)) {
    const single = interval.end === interval.start + '\u0000';
    if (single && keys.has(interval.start)) return true;
    if (ranges.some((range) => intervalsOverlap(range, interval))) return true;
    if (!single) for (const key of keys) if (intervalsOverlap(interval, { start: key, end: (key + '\u0000') as KeyBytes })) return true;
  }
  return false;
}

export function compareFor(key: KeyBytes, expected: Expected): Compare {
  switch (expected.kind) {
    case 'absent':
      return { target: 'version', key, result: 'equal', version: 0 };
    case 'present':
      return { target: 'version', key, result: 'greater', version: 0 };
    case 'value':
      return { target: 'value', key, result: 'equal', value: expected.value };
  }
}

export function opFor(write: PlannedWrite): RequestOp {
  switch (write.op) {
    case 'put':
      return { put: { key: write.key, value: write.value } };
    case 'delete':
      return { deleteRange: { key: write.key } };
    case 'deleteRange':
      return { deleteRange: { key: write.interval.start, end: write.interval.end } };
  }
}

/** The record: the destination holds every source revision up to this value, and nothing later. */
export function recordCompare(recordKey: KeyBytes, recorded: number): Compare {
  return { target: 'value', key: recordKey, result: 'equal', value: Buffer.from(String(recorded)) };
}

export function recordPut(recordKey: KeyBytes, revision: number): RequestOp {
  return { put: { key: recordKey, value: Buffer.from(String(revision)) } };
}

/** On failure the Txn returns the record, so one round trip tells "already applied" from "diverged". */
export function recordRead(recordKey: KeyBytes): RequestOp {
  return { range: { key: recordKey } };
}

export function inlineTxn(changes: readonly RevisionChange[], recordKey: KeyBytes, recorded: number): TxnRequest {
  const last = changes[changes.length - 1];
  if (last === undefined) throw new Error('an empty batch has nothing to record');
  const writes = changes.flatMap((change) => change.writes);
  return {
    compare: [recordCompare(recordKey, recorded), ...writes.flatMap((write) => (write.op === 'deleteRange' ? [] : [compareFor(write.key, write.expected)]))],
    success: [...writes.map(opFor), recordPut(recordKey, last.revision)],
    failure: [recordRead(recordKey)],
  };
}
