// Runs a resync against real clusters: snapshot the source prefix, read the
// destination subtree, diff (resync.ts) and apply the differences phase by
// phase with bounded concurrency.
import type { MirrorLog } from './log.js';
import { EtcdApiError, type EtcdClient } from './etcd/client.js';
import { EtcdErrorCode } from './etcd/wire-error.js';
import { joinKey } from './etcd/keys.js';
import { destinationRoot, type KeyMapping } from './key-mapping.js';
import { diffPhases, flatten, type ResyncOperation } from './resync.js';
import { snapshot } from './source.js';

export interface ResyncResult {
  index: number;
  puts: number;
  mkdirs: number;
  deletes: number;
}

export async function resyncOnce(
  src: EtcdClient,
  dst: EtcdClient,
  mapping: KeyMapping,
  ignore: RegExp | undefined,
  log: MirrorLog,
): Promise<ResyncResult> {
  const source = await snapshot(src, mapping.srcPrefix);
  const dstRoot = destinationRoot(mapping);
  let destNode;
  try {
    destNode = (await dst.get(dstRoot, { recursive: true, sorted: true })).node;
  } catch (error) {
    if (!(error instanceof EtcdApiError && error.wire.errorCode === EtcdErrorCode.KeyNotFound)) throw error;
  }
  // --src-ignore-keys-regex is about source keys; a destination path maps back
  // to the source key with the same relative path, so both sides exclude alike.
  const excluded = (relative: string): boolean => ignore !== undefined && ignore.test(joinKey(mapping.srcPrefix, relative));
  const phases = diffPhases(flatten(source.root, mapping.srcPrefix, excluded), flatten(destNode, dstRoot, excluded));
  const result: ResyncResult = { index: source.etcdIndex, puts: 0, mkdirs: 0, deletes: 0 };
  for (const phase of [phases.typeChanges, phases.writes, phases.extras]) {
    await runConcurrently(phase, 32, async (operation) => {
      await applyOperation(dst, joinKey(dstRoot, operation.path), operation);
      if (operation.op === 'put') result.puts += 1;
      else if (operation.op === 'mkdir') result.mkdirs += 1;
      else result.deletes += 1;
      log.debug({ op: operation.op, key: joinKey(dstRoot, operation.path) }, 'resync operation');
    });
  }
  return result;
}

async function applyOperation(dst: EtcdClient, key: string, operation: ResyncOperation): Promise<void> {
  try {
    switch (operation.op) {
      case 'put':
        await dst.put(key, { value: operation.value });
        return;
      case 'mkdir':
        await dst.put(key, { dir: true }, { prevExist: false });
        return;
      case 'delete':
        await dst.delete(key, operation.recursive ? { recursive: true } : {});
        return;
    }
  } catch (error) {
    // Already there (mkdir) or already gone (delete): the goal state holds.
    if (error instanceof EtcdApiError && operation.op === 'mkdir' && error.wire.errorCode === EtcdErrorCode.NodeExist) return;
    if (error instanceof EtcdApiError && operation.op === 'delete' && error.wire.errorCode === EtcdErrorCode.KeyNotFound) return;
    throw error;
  }
}

async function runConcurrently<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next];
      next += 1;
      if (item !== undefined) await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
