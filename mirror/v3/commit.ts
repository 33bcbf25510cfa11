// Sends one batch to the destination and tells what happened: applied,
// already applied (a retry after a lost answer, or a restart), or diverged
// (a strict stop with the key, both states and the source revision).
import { StrictReplicationError } from '../apply.js';
import type { EtcdV3Client } from '../etcd/v3/client.js';
import { keyText, type KeyBytes } from '../etcd/v3/keys.js';
import type { KeyValue, TxnRequest, TxnResult } from '../etcd/v3/types.js';
import { inlineTxn, type Batch } from './batch.js';
import { checkedTxn, firstDivergence, readPlan, type Divergence, type Observed } from './checked.js';
import { describeExpected, describeValue, type RevisionChange } from './plan.js';
import { readKeys, readRange } from './reads.js';

/** The record changed under the mirror: something else writes the destination's record. */
export class RecordMovedError extends Error {
  readonly code = 'ETCD_WARDEN_RECORD_MOVED';
  constructor(recordKey: KeyBytes, expected: number, found: string) {
    super(
      `the recorded revision at ${keyText(recordKey)} is ${found}, not ${expected} as this mirror left it: ` +
        'is a second mirror writing to this destination?',
    );
  }
}

export type CommitOutcome = 'applied' | 'already';

/** Compares failing while a fresh read finds every key as expected: a racing writer; give up after this many rounds. */
const attempts = 5;

function recordIn(result: TxnResult): string {
  for (const response of result.responses) {
    if (response.kind === 'range') return response.range.kvs[0]?.value.toString() ?? 'absent';
  }
  return 'absent';
}

function lastRevision(batch: Batch): number {
  if (batch.kind === 'checked') return batch.change.revision;
  return batch.changes[batch.changes.length - 1]?.revision ?? 0;
}

function changes(batch: Batch): readonly RevisionChange[] {
  return batch.kind === 'checked' ? [batch.change] : batch.changes;
}

export function strictError(divergence: Divergence, batch: Batch): StrictReplicationError {
  const change = changes(batch).find((candidate) => candidate.writes.some((write) => write.op !== 'deleteRange' && write.key === divergence.key));
  const actual = divergence.actual === undefined ? 'no key' : `value ${describeValue(divergence.actual.value)}`;
  return new StrictReplicationError(keyText(divergence.key), describeExpected(divergence.expected), actual, change?.revision ?? lastRevision(batch), change?.action ?? 'write');
}

async function observe(dst: EtcdV3Client, change: RevisionChange): Promise<Observed> {
  const plan = readPlan(change);
  if (plan.kind === 'keys') return readKeys(dst, plan.keys);
  const span = await readRange(dst, plan.span);
  const values = new Map<KeyBytes, KeyValue>(span.kvs.map((kv) => [kv.key, kv]));
  return { revision: span.revision, values, spanKeys: span.kvs.map((kv) => kv.key) };
}

/**
 * Applies a batch. `recorded` is the revision the destination's record holds
 * (this mirror wrote it). Transport errors propagate for the caller's retry;
 * retrying the same batch is safe: an applied batch answers 'already'.
 */
export async function commitBatch(dst: EtcdV3Client, batch: Batch, recordKey: KeyBytes, recorded: number): Promise<CommitOutcome> {
  const last = lastRevision(batch);
  const writes = changes(batch).flatMap((change) => change.writes);
  for (let attempt = 1; attempt <= attempts; attempt++) {
    let txn: TxnRequest;
    if (batch.kind === 'inline') txn = inlineTxn(batch.changes, recordKey, recorded);
    else {
      const plan = checkedTxn(batch.change, recordKey, recorded, await observe(dst, batch.change));
      if (plan.kind === 'diverged') throw strictError(plan.divergence, batch);
      txn = plan.txn;
    }
    const result = await dst.txn(txn);
    if (result.succeeded) return 'applied';
    const found = recordIn(result);
    if (Number(found) >= last) return 'already';
    if (found !== String(recorded)) throw new RecordMovedError(recordKey, recorded, found);
    const keys = writes.flatMap((write) => (write.op === 'deleteRange' ? [] : [write.key]));
    const divergence = firstDivergence(writes, (await readKeys(dst, keys)).values);
    if (divergence !== undefined) throw strictError(divergence, batch);
  }
  throw new Error(`the destination Txn for source revisions up to ${last} failed its compares ${attempts} times while every key read back as expected: is something else writing there?`);
}
