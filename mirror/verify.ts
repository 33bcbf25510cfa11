// Compares a replica with its source at a consistent point, writing nothing.
//
// The source is read as one quorum snapshot (its X-Etcd-Index says exactly
// which state it is). The replica is read once the mirror's recorded index
// (/__replication<dst-prefix>) has reached that index, so it holds at least
// that state. While replication runs the replica may also hold later events;
// a second source snapshot taken after reading the replica tells those apart:
// a difference that shows against both snapshots is real, one that shows
// against only one is a write in flight. If the source moved and a
// difference remains, the whole comparison is tried again.
import { EtcdApiError, type EtcdClient } from './etcd/client.js';
import { joinKey } from './etcd/keys.js';
import { EtcdErrorCode } from './etcd/wire-error.js';
import { replicationIndexKey } from './index-key.js';
import { destinationRoot, type KeyMapping } from './key-mapping.js';
import { flatten, type FlatTree } from './resync.js';
import { snapshot } from './source.js';
import { differences, type Difference } from './verify-differences.js';

export interface VerifyOptions {
  readonly mapping: KeyMapping;
  readonly ignore?: RegExp;
  /** How long to wait for the replica's recorded index to reach the source snapshot. */
  readonly waitMs: number;
  readonly attempts: number;
}

export interface VerifyResult {
  readonly equal: boolean;
  readonly sourceIndex: number;
  /** The replica's recorded replication index when it was read; undefined when it has none. */
  readonly replicatedIndex: number | undefined;
  readonly sourceNodes: number;
  readonly replicaNodes: number;
  readonly differences: readonly Difference[];
  readonly attempts: number;
  readonly notes: readonly string[];
}

export async function readReplicationIndex(dst: EtcdClient, dstPrefix: string): Promise<number | undefined> {
  const node = await dst.read(replicationIndexKey(dstPrefix));
  const value = Number(node?.value);
  return node !== undefined && Number.isInteger(value) ? value : undefined;
}

/** The replica's subtree (the destination root of the mapping), flattened with the mirror's rules. */
export async function replicaTree(dst: EtcdClient, mapping: KeyMapping, exclude: (relative: string) => boolean): Promise<FlatTree> {
  const root = destinationRoot(mapping);
  try {
    return flatten((await dst.get(root, { recursive: true, sorted: true, quorum: true })).node, root, exclude);
  } catch (error) {
    if (error instanceof EtcdApiError && error.wire.errorCode === EtcdErrorCode.KeyNotFound) return new Map();
    throw error;
  }
}

/** The source prefix as one consistent snapshot, flattened with the mirror's rules. */
export async function sourceTree(src: EtcdClient, mapping: KeyMapping, exclude: (relative: string) => boolean): Promise<{ tree: FlatTree; index: number }> {
  const taken = await snapshot(src, mapping.srcPrefix);
  return { tree: flatten(taken.root, mapping.srcPrefix, exclude), index: taken.etcdIndex };
}

/** --src-ignore-keys-regex is about source keys; both sides map back to one (as resync-run.ts does). */
export function exclusion(mapping: KeyMapping, ignore: RegExp | undefined): (relative: string) => boolean {
  return (relative) => ignore !== undefined && ignore.test(joinKey(mapping.srcPrefix, relative));
}

function sameTree(a: FlatTree, b: FlatTree): boolean {
  if (a.size !== b.size) return false;
  for (const [path, node] of a) {
    const other = b.get(path);
    if (other === undefined || other.dir !== node.dir || (!other.dir && !node.dir && other.value !== node.value)) return false;
  }
  return true;
}

/**
 * Until the replica's recorded position (a v2 index, a v3 revision) reaches
 * `position`, or `waitMs` passes. No position yet is waited for too: a
 * mirror started with --reload records its first one only after copying the
 * prefix (comparing at once found an empty replica).
 */
export async function waitForPosition(readPosition: () => Promise<number | undefined>, position: number, waitMs: number): Promise<number | undefined> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const replicated = await readPosition();
    if ((replicated !== undefined && replicated >= position) || Date.now() >= deadline) return replicated;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

export async function verifyReplica(src: EtcdClient, dst: EtcdClient, options: VerifyOptions): Promise<VerifyResult> {
  const exclude = exclusion(options.mapping, options.ignore);
  const indexKey = replicationIndexKey(options.mapping.dstPrefix);
  let attempt = 0;
  for (;;) {
    attempt += 1;
    const notes: string[] = [];
    const before = await sourceTree(src, options.mapping, exclude);
    const replicated = await waitForPosition(() => readReplicationIndex(dst, options.mapping.dstPrefix), before.index, options.waitMs);
    if (replicated === undefined) notes.push(`the replica has no replication index at ${indexKey} after ${options.waitMs} ms: compared as it is`);
    else if (replicated < before.index) {
      notes.push(`the replica's replication index ${replicated} had not reached the source snapshot's ${before.index} after ${options.waitMs} ms: is the mirror running?`);
    }
    const replica = await replicaTree(dst, options.mapping, exclude);
    const found = differences(before.tree, replica);
    if (found.length === 0) {
      return { equal: true, sourceIndex: before.index, replicatedIndex: replicated, sourceNodes: before.tree.size, replicaNodes: replica.size, differences: [], attempts: attempt, notes };
    }
    const after = await sourceTree(src, options.mapping, exclude);
    const stillDifferent = new Set(differences(after.tree, replica).map((difference) => difference.path));
    const real = found.filter((difference) => stillDifferent.has(difference.path));
    const sourceMoved = !sameTree(before.tree, after.tree);
    if (sourceMoved && attempt < options.attempts) continue;
    if (sourceMoved) notes.push(`the source changed under ${options.mapping.srcPrefix} during every one of ${attempt} attempts; differences that came and went were left out`);
    return {
      equal: real.length === 0,
      sourceIndex: before.index,
      replicatedIndex: replicated,
      sourceNodes: before.tree.size,
      replicaNodes: replica.size,
      differences: real,
      attempts: attempt,
      notes,
    };
  }
}
