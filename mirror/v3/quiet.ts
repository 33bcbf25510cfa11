// Proving a quiet prefix quiet, so the record follows the source's revision
// even when nothing under the prefix changes (the v3 form of the
// 2024-02-28 incident: a busy cluster, a quiet prefix, and a record that
// falls behind the source's compaction; /lag would also grow without end).
//
// etcd 3.4.23's on-demand progress request (WatchProgressRequest) answers
// on a side channel, not in order with the events, and can report a
// revision whose events are still on their way (etcd issue #15220, fixed in
// 3.4.24). So the proof reads instead, at one source revision P:
//   1. the key changed last under the prefix has mod_revision <= R, so
//      nothing was put in (R, P];
//   2. the prefix holds as many keys at P as at R, so (with no puts) nothing
//      was deleted either.
// The only event sequences this cannot see create a key and delete it again
// within (R, P]: their net effect is nothing, and the replica at P is the
// source at P. The caller must not have queued anything past R meanwhile.
import { isCompactedError, type EtcdV3Client } from '../etcd/v3/client.js';
import type { KeyBytes } from '../etcd/v3/keys.js';
import { exactIntervals } from './keyspace.js';

/** The source revision P up to which nothing changed below `base` since `since`, or undefined when that cannot be shown. */
export async function quietUpTo(src: EtcdV3Client, base: KeyBytes, since: number): Promise<number | undefined> {
  let revision = 0;
  let keysNow = 0;
  let keysThen = 0;
  try {
    for (const interval of exactIntervals(base)) {
      const newest = await src.range({ key: interval.start, end: interval.end, revision, limit: 1, keysOnly: true, newestFirst: true });
      if (revision === 0) revision = newest.header.revision;
      if ((newest.kvs[0]?.modRevision ?? 0) > since) return undefined;
      keysNow += newest.count;
      keysThen += (await src.range({ key: interval.start, end: interval.end, revision: since, countOnly: true })).count;
    }
  } catch (error) {
    // R compacted: nothing to prove from; the next watch start will resync if it must.
    if (isCompactedError(error)) return undefined;
    throw error;
  }
  return keysNow === keysThen && revision > since ? revision : undefined;
}
