import { describe, expect, it } from 'vitest';
import { keyFromText, keyText, prefixInterval, type KeyBytes } from '../../mirror/etcd/v3/keys.js';
import type { KeyValue, RequestOp } from '../../mirror/etcd/v3/types.js';
import { inlineTxn, needsCheck, takeBatch, txnLimits } from '../../mirror/v3/batch.js';
import { checkedTxn, readPlan, RevisionTooLargeError } from '../../mirror/v3/checked.js';
import type { PlannedWrite, RevisionChange } from '../../mirror/v3/plan.js';

const k = keyFromText;
const record = k('__etcd_warden/replication/r');

function change(revision: number, writes: PlannedWrite[]): RevisionChange {
  return { revision, writes, action: 'put', events: writes.length };
}
const put = (key: string, value = 'v', before = 'absent'): PlannedWrite => ({
  op: 'put',
  key: k(key),
  value: Buffer.from(value),
  expected: before === 'absent' ? { kind: 'absent' } : { kind: 'value', value: Buffer.from(before) },
});
const del = (key: string, before = 'old'): PlannedWrite => ({ op: 'delete', key: k(key), expected: { kind: 'value', value: Buffer.from(before) } });
const revisions = (batch: ReturnType<typeof takeBatch>): number[] => (batch === undefined ? [] : batch.kind === 'checked' ? [batch.change.revision] : batch.changes.map((c) => c.revision));

describe('takeBatch', () => {
  it('carries consecutive revisions in one Txn', () => {
    expect(revisions(takeBatch([change(1, [put('/a')]), change(2, [put('/b')]), change(3, [])]))).toEqual([1, 2, 3]);
  });

  it('ends a batch before a revision that writes a key the batch already writes', () => {
    expect(revisions(takeBatch([change(1, [put('/a')]), change(2, [put('/b')]), change(3, [put('/a', 'w', 'v')]), change(4, [put('/c')])]))).toEqual([1, 2]);
  });

  it('ends a batch before a key inside a range the batch deletes, and the other way round', () => {
    const range: PlannedWrite = { op: 'deleteRange', interval: prefixInterval(k('/d/')) };
    expect(revisions(takeBatch([change(1, [range]), change(2, [put('/d/x')])]))).toEqual([1]);
    expect(revisions(takeBatch([change(1, [put('/d/x')]), change(2, [range])]))).toEqual([1]);
    expect(revisions(takeBatch([change(1, [put('/dx')]), change(2, [range])]))).toEqual([1, 2]);
  });

  it('stays within etcd\'s 128 compares and operations, the record included', () => {
    const queue = Array.from({ length: 300 }, (_, i) => change(i + 1, [put(`/k${i}`)]));
    const batch = takeBatch(queue);
    expect(revisions(batch)).toHaveLength(127);
    if (batch?.kind !== 'inline') throw new Error('expected an inline batch');
    const txn = inlineTxn(batch.changes, record, 0);
    expect(txn.compare).toHaveLength(128);
    expect(txn.success).toHaveLength(128);
  });

  it('stays under the request size limit', () => {
    const big = 'x'.repeat(300 * 1024);
    expect(revisions(takeBatch([1, 2, 3, 4, 5].map((n) => change(n, [put(`/k${n}`, big)]))))).toEqual([1, 2, 3]);
  });

  it('sends a revision with a large previous value alone, as a checked Txn', () => {
    const large = put('/a', 'new', 'y'.repeat(txnLimits.inlineCompareBytes + 1));
    expect(needsCheck(change(2, [large]))).toBe(true);
    expect(takeBatch([change(2, [large]), change(3, [put('/b')])])).toEqual({ kind: 'checked', change: change(2, [large]) });
    expect(revisions(takeBatch([change(1, [put('/c')]), change(2, [large])]))).toEqual([1]);
  });

  it('sends a revision deleting more keys than a Txn compares as a checked Txn (make-mirror dies here)', () => {
    const deletes = Array.from({ length: 200 }, (_, i) => del(`/p/k${String(i).padStart(3, '0')}`));
    expect(takeBatch([change(5, deletes)])?.kind).toBe('checked');
  });
});

describe('inlineTxn', () => {
  it('compares the record and each key, writes, records the last revision, and reads the record on failure', () => {
    const txn = inlineTxn([change(8, [put('/a', '2', '1')]), change(9, [del('/b', 'x')])], record, 7);
    expect(txn.compare).toEqual([
      { target: 'value', key: record, result: 'equal', value: Buffer.from('7') },
      { target: 'value', key: k('/a'), result: 'equal', value: Buffer.from('1') },
      { target: 'value', key: k('/b'), result: 'equal', value: Buffer.from('x') },
    ]);
    expect(txn.success).toEqual([{ put: { key: k('/a'), value: Buffer.from('2') } }, { deleteRange: { key: k('/b') } }, { put: { key: record, value: Buffer.from('9') } }]);
    expect(txn.failure).toEqual([{ range: { key: record } }]);
  });
});

function held(key: string, value: string, modRevision: number): [KeyBytes, KeyValue] {
  return [k(key), { key: k(key), value: Buffer.from(value), createRevision: 1, modRevision, version: 1 }];
}

function shownOps(ops: readonly RequestOp[]): string[] {
  return ops.map((op) => ('deleteRange' in op ? `delete ${keyText(op.deleteRange.key)}..${keyText(op.deleteRange.end ?? ('' as KeyBytes))}` : 'put' in op ? `put ${keyText(op.put.key)}` : 'range'));
}

describe('checkedTxn', () => {
  it('compares a large value by the mod_revision it was read at, after checking the value itself', () => {
    const big = 'y'.repeat(10_000);
    const plan = checkedTxn(change(4, [put('/a', 'new', big)]), record, 3, { revision: 50, values: new Map([held('/a', big, 42)]) });
    if (plan.kind !== 'txn') throw new Error('expected a Txn');
    expect(plan.txn.compare[1]).toEqual({ target: 'mod', key: k('/a'), result: 'equal', modRevision: 42 });
  });

  it('stops when the key read does not hold the previous value', () => {
    const plan = checkedTxn(change(4, [put('/a', 'new', 'y'.repeat(10_000))]), record, 3, { revision: 50, values: new Map([held('/a', 'hand-edited', 42)]) });
    expect(plan).toMatchObject({ kind: 'diverged', divergence: { key: k('/a'), actual: { value: Buffer.from('hand-edited') } } });
  });

  it('deletes 200 adjacent keys with one range, guarded by one range compare, and keeps a key the revision did not delete', () => {
    const names = Array.from({ length: 200 }, (_, i) => `/p/k${String(i).padStart(3, '0')}`);
    const deleted = names.filter((name) => name !== '/p/k100');
    const c = change(9, deleted.map((name) => del(name)));
    const plan = readPlan(c);
    expect(plan).toEqual({ kind: 'span', span: { start: k('/p/k000'), end: k('/p/k199\u0000') } });
    const values = new Map(names.map((name, i) => held(name, 'old', i + 1)));
    const result = checkedTxn(c, record, 8, { revision: 300, values, spanKeys: names.map(k) });
    if (result.kind !== 'txn') throw new Error('expected a Txn');
    expect(result.txn.compare.slice(1)).toEqual([{ target: 'mod', key: k('/p/k000'), end: k('/p/k199\u0000'), result: 'less', modRevision: 301 }]);
    expect(shownOps(result.txn.success)).toEqual(['delete /p/k000../p/k099\u0000', 'delete /p/k101../p/k199\u0000', 'put __etcd_warden/replication/r']);
  });

  it('stops when a key the source deleted is missing on the destination', () => {
    const names = Array.from({ length: 100 }, (_, i) => `/p/k${String(i).padStart(3, '0')}`);
    const present = names.filter((name) => name !== '/p/k050');
    const result = checkedTxn(change(9, names.map((name) => del(name))), record, 8, { revision: 300, values: new Map(present.map((name) => held(name, 'old', 5))), spanKeys: present.map(k) });
    expect(result).toMatchObject({ kind: 'diverged', divergence: { key: k('/p/k050'), actual: undefined } });
  });

  it('refuses a revision that needs more operations than one Txn holds, naming the etcd flag', () => {
    const names = Array.from({ length: 300 }, (_, i) => `/p/k${String(i).padStart(3, '0')}`);
    const deletedEveryOther = names.filter((_, i) => i % 2 === 0);
    const c = change(9, deletedEveryOther.map((name) => del(name)));
    const values = new Map(names.map((name) => held(name, 'old', 5)));
    expect(() => checkedTxn(c, record, 8, { revision: 300, values, spanKeys: names.map(k) })).toThrow(RevisionTooLargeError);
  });
});
