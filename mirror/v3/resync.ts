// Resync for v3 destinations: a snapshot of the source at one revision, the
// destination read at one revision, and only the differences written, each
// guarded by what the destination held when it was read. Nothing is wiped
// first, so a resync that fails half-way leaves the replica as it was plus
// some correct keys. Pure: no network.
import type { KeyBytes } from '../etcd/v3/keys.js';
import type { Compare, RequestOp, TxnRequest } from '../etcd/v3/types.js';
import { txnLimits } from './batch.js';

/** Key paths below the prefix → values. */
export type SourceKeys = ReadonlyMap<KeyBytes, Buffer>;
/** Key paths below the destination root → what each holds, with the mod_revision it was read at. */
export type DestinationKeys = ReadonlyMap<KeyBytes, { readonly value: Buffer; readonly modRevision: number }>;

export type ResyncWrite =
  | { readonly op: 'put'; readonly path: KeyBytes; readonly value: Buffer; readonly readModRevision: number | undefined }
  | { readonly op: 'delete'; readonly path: KeyBytes; readonly readModRevision: number };

export interface KeyspaceDiff {
  readonly writes: readonly ResyncWrite[];
  readonly unchanged: number;
}

/** The writes that turn `destination` into `source`, in key order. */
export function diffKeyspaces(source: SourceKeys, destination: DestinationKeys): KeyspaceDiff {
  const writes: ResyncWrite[] = [];
  let unchanged = 0;
  const paths = [...new Set([...source.keys(), ...destination.keys()])].sort();
  for (const path of paths) {
    const want = source.get(path);
    const have = destination.get(path);
    if (want === undefined) {
      if (have !== undefined) writes.push({ op: 'delete', path, readModRevision: have.modRevision });
    } else if (have === undefined) writes.push({ op: 'put', path, value: want, readModRevision: undefined });
    else if (!have.value.equals(want)) writes.push({ op: 'put', path, value: want, readModRevision: have.modRevision });
    else unchanged += 1;
  }
  return { writes, unchanged };
}

/**
 * The diff as Txns within etcd's limits (128 operations, --max-request-bytes),
 * each write guarded: a key written on the destination since it was read
 * fails the Txn, and the caller starts the resync again.
 */
export function resyncTxns(writes: readonly ResyncWrite[], keyFor: (path: KeyBytes) => KeyBytes): TxnRequest[] {
  const txns: TxnRequest[] = [];
  let compare: Compare[] = [];
  let success: RequestOp[] = [];
  let bytes = 0;
  const flush = (): void => {
    if (success.length > 0) txns.push({ compare, success, failure: [] });
    compare = [];
    success = [];
    bytes = 0;
  };
  for (const write of writes) {
    const key = keyFor(write.path);
    const size = key.length * 2 + (write.op === 'put' ? write.value.length : 0) + 32;
    if (success.length + 1 > txnLimits.operations || (success.length > 0 && bytes + size > txnLimits.requestBytes)) flush();
    compare.push(
      write.readModRevision === undefined
        ? { target: 'version', key, result: 'equal', version: 0 }
        : { target: 'mod', key, result: 'equal', modRevision: write.readModRevision },
    );
    success.push(write.op === 'put' ? { put: { key, value: write.value } } : { deleteRange: { key } });
    bytes += size;
  }
  flush();
  return txns;
}
