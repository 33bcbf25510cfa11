// The Txn for one revision that cannot compare inline. Pure: no network;
// the caller reads the destination first and hands the reads in.
//
// - Large previous values: the key is read, its value checked here, and the
//   Txn compares its mod_revision (a number) instead of the value, so the
//   request stays under --max-request-bytes.
// - More keys than a Txn may compare (etcd allows 128 operations: a
//   DeleteRange of 200 keys on the source is what kills make-mirror): the
//   span from the first to the last key is read at one revision R, every key
//   checked here, and the Txn compares "no key in the span modified after R"
//   (one range compare) and deletes each run of adjacent keys with one
//   DeleteRange. A key between two deleted keys that the revision did not
//   delete (a Txn deleting "/a" and "/c" but not "/b") ends a run.
import type { KeyBytes, KeyInterval } from '../etcd/v3/keys.js';
import type { Compare, KeyValue, RequestOp, TxnRequest } from '../etcd/v3/types.js';
import { compareFor, opFor, recordCompare, recordPut, recordRead, txnLimits } from './batch.js';
import type { Expected, PlannedWrite, RevisionChange } from './plan.js';

/** Revisions with at most this many keys read them one by one; more read the span between them. */
export const keyByKeyReads = 64;

export type ReadPlan = { readonly kind: 'keys'; readonly keys: readonly KeyBytes[] } | { readonly kind: 'span'; readonly span: KeyInterval };

export interface Observed {
  /** The destination revision the reads were taken at. */
  readonly revision: number;
  /** What each read key holds (a key missing from the map is absent). */
  readonly values: ReadonlyMap<KeyBytes, KeyValue>;
  /** For a span read: every destination key in the span, in order. */
  readonly spanKeys?: readonly KeyBytes[];
}

export interface Divergence {
  readonly key: KeyBytes;
  readonly expected: Expected;
  readonly actual: KeyValue | undefined;
}

export type CheckedPlan = { readonly kind: 'txn'; readonly txn: TxnRequest } | { readonly kind: 'diverged'; readonly divergence: Divergence };

export class RevisionTooLargeError extends Error {
  readonly code = 'ETCD_WARDEN_REVISION_TOO_LARGE';
  constructor(
    readonly revision: number,
    readonly operations: number,
  ) {
    super(
      `source revision ${revision} needs ${operations} operations in one destination Txn, more than etcd's ${txnLimits.operations} (--max-txn-ops): ` +
        'raise --max-txn-ops on the destination to the source\'s value',
    );
  }
}

type SingleKeyWrite = Extract<PlannedWrite, { key: KeyBytes }>;

function singleKeyWrites(change: RevisionChange): SingleKeyWrite[] {
  return change.writes.filter((write): write is SingleKeyWrite => write.op !== 'deleteRange');
}

export function readPlan(change: RevisionChange): ReadPlan {
  const keys = singleKeyWrites(change).map((write) => write.key).sort();
  const first = keys[0];
  const last = keys[keys.length - 1];
  if (keys.length <= keyByKeyReads || first === undefined || last === undefined) return { kind: 'keys', keys };
  return { kind: 'span', span: { start: first, end: (last + '\u0000') as KeyBytes } };
}

export function holds(expected: Expected, actual: KeyValue | undefined): boolean {
  switch (expected.kind) {
    case 'absent':
      return actual === undefined;
    case 'present':
      return actual !== undefined;
    case 'value':
      return actual !== undefined && actual.value.equals(expected.value);
  }
}

/** The first written key whose destination state is not what the source held before. */
export function firstDivergence(writes: readonly PlannedWrite[], values: ReadonlyMap<KeyBytes, KeyValue>): Divergence | undefined {
  for (const write of writes) {
    if (write.op === 'deleteRange') continue;
    const actual = values.get(write.key);
    if (!holds(write.expected, actual)) return { key: write.key, expected: write.expected, actual };
  }
  return undefined;
}

function deleteRuns(spanKeys: readonly KeyBytes[], deleted: ReadonlySet<KeyBytes>): RequestOp[] {
  const runs: RequestOp[] = [];
  let start: KeyBytes | undefined;
  let last: KeyBytes | undefined;
  const close = (): void => {
    if (start !== undefined && last !== undefined) runs.push({ deleteRange: { key: start, end: (last + '\u0000') as KeyBytes } });
    start = undefined;
  };
  for (const key of spanKeys) {
    if (!deleted.has(key)) {
      close();
      continue;
    }
    start ??= key;
    last = key;
  }
  close();
  return runs;
}

export function checkedTxn(change: RevisionChange, recordKey: KeyBytes, recorded: number, observed: Observed): CheckedPlan {
  const divergence = firstDivergence(change.writes, observed.values);
  if (divergence !== undefined) return { kind: 'diverged', divergence };
  let compares: Compare[];
  let operations: RequestOp[];
  const spanKeys = observed.spanKeys;
  const singles = singleKeyWrites(change);
  if (spanKeys === undefined) {
    compares = singles.map((write) => {
      const actual = observed.values.get(write.key);
      return actual === undefined ? compareFor(write.key, { kind: 'absent' }) : { target: 'mod', key: write.key, result: 'equal', modRevision: actual.modRevision };
    });
    operations = change.writes.map(opFor);
  } else {
    const plan = readPlan(change);
    if (plan.kind !== 'span') throw new Error('a span read for a revision that reads key by key');
    compares = [{ target: 'mod', key: plan.span.start, end: plan.span.end, result: 'less', modRevision: observed.revision + 1 }];
    const deleted = new Set(singles.filter((write) => write.op === 'delete').map((write) => write.key));
    operations = [...change.writes.filter((write) => write.op !== 'delete').map(opFor), ...deleteRuns(spanKeys, deleted)];
  }
  const needed = Math.max(compares.length, operations.length) + 1;
  if (needed > txnLimits.operations) throw new RevisionTooLargeError(change.revision, needed);
  return {
    kind: 'txn',
    txn: { compare: [recordCompare(recordKey, recorded), ...compares], success: [...operations, recordPut(recordKey, change.revision)], failure: [recordRead(recordKey)] },
  };
}
