// Runs a resync into a v3 destination: read the source (a v3 range at one
// revision, or a v2 recursive snapshot), read the destination root, apply
// the differences (resync.ts), then record the source revision or index.
import type { EtcdClient } from '../etcd/client.js';
import type { EtcdV3Client } from '../etcd/v3/client.js';
import { keyFromText, type KeyBytes } from '../etcd/v3/keys.js';
import { isHiddenBelow, joinKey } from '../etcd/keys.js';
import { flatten } from '../resync.js';
import { snapshot } from '../source.js';
import { recordPut, recordRead } from './batch.js';
import { RecordMovedError } from './commit.js';
import { coveringInterval, destinationKeyFor, destinationPath, isIgnoredPath, sourceKeyText, sourcePath, type KeySpace } from './keyspace.js';
import { readRange } from './reads.js';
import { diffKeyspaces, resyncTxns, type DestinationKeys } from './resync.js';

export interface SourceState {
  /** The source revision (v3) or X-Etcd-Index (v2) the keys are exactly the state of. */
  readonly revision: number;
  readonly keys: ReadonlyMap<KeyBytes, Buffer>;
  /** v2 only: directories with no key below them, which a v3 keyspace cannot hold. */
  readonly emptyDirectories: readonly string[];
}

export interface ResyncResult {
  readonly revision: number;
  readonly puts: number;
  readonly deletes: number;
  readonly unchanged: number;
}

/** A destination key changed between the resync's read and its write: the resync starts again. */
export class DestinationChangedError extends Error {
  readonly code = 'ETCD_WARDEN_DESTINATION_CHANGED';
  constructor() {
    super('a destination key changed while the resync was writing: reading both sides again');
  }
}

export async function sourceStateV3(src: EtcdV3Client, space: KeySpace): Promise<SourceState> {
  const read = await readRange(src, coveringInterval(space.sourceBase));
  const keys = new Map<KeyBytes, Buffer>();
  for (const kv of read.kvs) {
    const path = sourcePath(space, kv.key);
    if (path !== undefined && !isIgnoredPath(space, path)) keys.set(path, kv.value);
  }
  return { revision: read.revision, keys, emptyDirectories: [] };
}

export async function sourceStateV2(src: EtcdClient, space: KeySpace): Promise<SourceState> {
  const prefix = space.mapping.srcPrefix;
  const taken = await snapshot(src, prefix);
  const excluded = (relative: string): boolean => space.ignore !== undefined && space.ignore.test(joinKey(prefix, relative));
  const tree = flatten(taken.root, prefix, excluded);
  const keys = new Map<KeyBytes, Buffer>();
  const directories: string[] = [];
  const holdingKeys = new Set<string>();
  for (const [relative, node] of tree) {
    if (node.dir) {
      directories.push(relative);
      continue;
    }
    keys.set(keyFromText(relative), Buffer.from(node.value, 'utf8'));
    for (let cut = relative.lastIndexOf('/'); cut > 0; cut = relative.lastIndexOf('/', cut - 1)) holdingKeys.add(relative.slice(0, cut));
  }
  const emptyDirectories = directories.filter((directory) => !holdingKeys.has(directory)).map((directory) => joinKey(prefix, directory));
  return { revision: taken.etcdIndex, keys, emptyDirectories };
}

/** The destination root as the mirror owns it: ignored keys (and, from a v2 source, hidden ones) are left alone. */
export async function destinationState(dst: EtcdV3Client, space: KeySpace, v2Source: boolean): Promise<DestinationKeys> {
  const keep = (path: KeyBytes): boolean => !isIgnoredPath(space, path) && !(v2Source && isHiddenBelow(sourceKeyText(space, path), space.mapping.srcPrefix));
  const read = await readRange(dst, coveringInterval(space.destinationBase));
  const keys = new Map<KeyBytes, { value: Buffer; modRevision: number }>();
  for (const kv of read.kvs) {
    const path = destinationPath(space, kv.key);
    if (path !== undefined && keep(path)) keys.set(path, { value: kv.value, modRevision: kv.modRevision });
  }
  return keys;
}

/**
 * Applies the differences between `source` and the destination, then sets
 * the record to the source's revision, in a Txn that checks the record still
 * holds `recorded` (undefined: no record yet).
 */
export async function resyncInto(dst: EtcdV3Client, space: KeySpace, recordKey: KeyBytes, recorded: number | undefined, source: SourceState, v2Source: boolean): Promise<ResyncResult> {
  const diff = diffKeyspaces(source.keys, await destinationState(dst, space, v2Source));
  for (const txn of resyncTxns(diff.writes, (path) => destinationKeyFor(space, path))) {
    if (!(await dst.txn(txn)).succeeded) throw new DestinationChangedError();
  }
  const record = await dst.txn({
    compare: [recorded === undefined ? { target: 'version', key: recordKey, result: 'equal', version: 0 } : { target: 'value', key: recordKey, result: 'equal', value: Buffer.from(String(recorded)) }],
    success: [recordPut(recordKey, source.revision)],
    failure: [recordRead(recordKey)],
  });
  if (!record.succeeded) {
    const response = record.responses[0];
    const found = response?.kind === 'range' ? (response.range.kvs[0]?.value.toString() ?? 'absent') : 'absent';
    throw new RecordMovedError(recordKey, recorded ?? 0, found);
  }
  const puts = diff.writes.filter((write) => write.op === 'put').length;
  return { revision: source.revision, puts, deletes: diff.writes.length - puts, unchanged: diff.unchanged };
}
