// `mirror-verify` for v3 destinations: a v3 source (verifyV3) or a v2 source
// (verifyV2ToV3) compared key by key with the replica, each side read at one
// revision, writing nothing. The same procedure as the v2 verify
// (mirror/verify.ts): wait until the replica's record reaches the source
// snapshot, read the replica, and tell writes in flight from real
// differences with a second source snapshot.
import type { EtcdClient } from '../etcd/client.js';
import type { EtcdV3Client } from '../etcd/v3/client.js';
import { keyText, type KeyBytes } from '../etcd/v3/keys.js';
import type { KeyMapping } from '../key-mapping.js';
import type { Difference } from '../verify-differences.js';
import { waitForPosition, type VerifyResult } from '../verify.js';
import { keySpace, revisionRecordKey, v2IndexRecordKey, type KeySpace } from './keyspace.js';
import { destinationState, sourceStateV2, sourceStateV3, type SourceState } from './resync-run.js';

export interface V3VerifyOptions {
  readonly mapping: KeyMapping;
  readonly ignore?: RegExp;
  /** How long to wait for the replica's record to reach the source snapshot. */
  readonly waitMs: number;
  readonly attempts: number;
}

/** Pure: what differs between the source's keys and the replica's, by path below the prefix. */
export function keyspaceDifferences(source: ReadonlyMap<KeyBytes, Buffer>, replica: ReadonlyMap<KeyBytes, Buffer>): Difference[] {
  const out: Difference[] = [];
  for (const path of [...new Set([...source.keys(), ...replica.keys()])].sort()) {
    const want = source.get(path);
    const have = replica.get(path);
    const shown = keyText(path);
    if (want !== undefined && have === undefined) out.push({ kind: 'missing', path: shown, source: { dir: false, value: want.toString('utf8') } });
    else if (want === undefined && have !== undefined) out.push({ kind: 'extra', path: shown, replica: { dir: false, value: have.toString('utf8') }, below: 0 });
    else if (want !== undefined && have !== undefined && !want.equals(have)) out.push({ kind: 'value', path: shown, source: want.toString('utf8'), replica: have.toString('utf8') });
  }
  return out;
}

/** Full keys for describeDifference (mirror/verify-differences.ts): a path's source key and replica key, as text. */
export function differenceKeys(mapping: KeyMapping): { sourceKey(path: string): string; replicaKey(path: string): string } {
  const space = keySpace(mapping, undefined);
  return {
    sourceKey: (path) => (space.sourceBase === '' ? path : keyText(space.sourceBase) + path),
    replicaKey: (path) => (space.destinationBase === '' ? path : keyText(space.destinationBase) + path),
  };
}

export function verifyV3(src: EtcdV3Client, dst: EtcdV3Client, options: V3VerifyOptions): Promise<VerifyResult> {
  return verifyInto(dst, options, revisionRecordKey(options.mapping.dstPrefix), false, (space) => sourceStateV3(src, space));
}

export function verifyV2ToV3(src: EtcdClient, dst: EtcdV3Client, options: V3VerifyOptions): Promise<VerifyResult> {
  return verifyInto(dst, options, v2IndexRecordKey(options.mapping.dstPrefix), true, (space) => sourceStateV2(src, space));
}

async function readRecord(dst: EtcdV3Client, recordKey: KeyBytes): Promise<number | undefined> {
  const found = (await dst.range({ key: recordKey })).kvs[0];
  const value = Number(found?.value.toString());
  return found !== undefined && Number.isInteger(value) ? value : undefined;
}


function sameKeys(a: ReadonlyMap<KeyBytes, Buffer>, b: ReadonlyMap<KeyBytes, Buffer>): boolean {
  if (a.size !== b.size) return false;
  for (const [path, value] of a) if (b.get(path)?.equals(value) !== true) return false;
  return true;
}

async function verifyInto(dst: EtcdV3Client, options: V3VerifyOptions, recordKey: KeyBytes, v2Source: boolean, readSource: (space: KeySpace) => Promise<SourceState>): Promise<VerifyResult> {
  const space = keySpace(options.mapping, options.ignore);
  for (let attempt = 1; ; attempt++) {
    const notes: string[] = [];
    const before = await readSource(space);
    const replicated = await waitForPosition(() => readRecord(dst, recordKey), before.revision, options.waitMs);
    if (replicated === undefined) notes.push(`the replica has no record at ${keyText(recordKey)} after ${options.waitMs} ms: compared as it is`);
    else if (replicated < before.revision) {
      notes.push(`the replica's record ${replicated} had not reached the source snapshot's ${before.revision} after ${options.waitMs} ms: is the mirror running?`);
    }
    if (before.emptyDirectories.length > 0) notes.push(`${before.emptyDirectories.length} empty v2 directories have no v3 form and were not compared`);
    const replica = new Map([...(await destinationState(dst, space, v2Source))].map(([path, held]) => [path, held.value] as const));
    const found = keyspaceDifferences(before.keys, replica);
    const result = { sourceIndex: before.revision, replicatedIndex: replicated, sourceNodes: before.keys.size, replicaNodes: replica.size, attempts: attempt };
    if (found.length === 0) return { ...result, equal: true, differences: [], notes };
    const after = await readSource(space);
    const stillDifferent = new Set(keyspaceDifferences(after.keys, replica).map((difference) => difference.path));
    const real = found.filter((difference) => stillDifferent.has(difference.path));
    const sourceMoved = !sameKeys(before.keys, after.keys);
    if (sourceMoved && attempt < options.attempts) continue;
    if (sourceMoved) notes.push(`the source changed under ${options.mapping.srcPrefix} during every one of ${attempt} attempts; differences that came and went were left out`);
    return { ...result, equal: real.length === 0, differences: real, notes };
  }
}
