// The v2 source of the v2 → v3 migration: the v2 mirror's own watch
// (source.ts: one-event long-polls while catching up, a stream once live,
// idle renewals that prove a quiet prefix quiet) feeding each v2 event to
// the v3 replicator as one change at its index; the cluster index followed
// (cluster-index.ts) so bursts outside the prefix cost no resync.
import { ClusterIndexFollower, reanchorEveryEvents } from '../cluster-index.js';
import { isTransient, type EtcdClient } from '../etcd/client.js';
import { Backoff, logRetry } from '../retry.js';
import { IndexClearedError, watchOnce, type RawEvent, type WatchMode } from '../source.js';
import type { KeySpace } from './keyspace.js';
import { planV2Event } from './plan-v2.js';
import { SourceHistoryError, type FollowContext } from './source-v3.js';

export async function followV2(src: EtcdClient, space: KeySpace, context: FollowContext, after: number): Promise<void> {
  const { replicator, log, halt } = context;
  let next = after + 1;
  let mode: WatchMode = 'poll';
  const backoff = new Backoff();
  const clusterIndex = new ClusterIndexFollower(src, { everyEvents: reanchorEveryEvents, idleMs: context.idleRenewMs, log, anchor: () => next - 1 });
  const handlers = {
    onEvent: async (raw: RawEvent, index: number): Promise<void> => {
      context.noteSource(index);
      if (index < next) return;
      next = index + 1;
      clusterIndex.anchorMoved();
      const planned = planV2Event(space, raw, index);
      if (planned.note === 'emptyDirectory') log.info({ key: raw.node.key, index }, 'empty directory not copied: v3 keys imply their directories');
      else if (planned.note === 'hidden' || planned.note === 'ignored') log.debug({ key: raw.node.key, index, action: raw.action }, 'not replicated (hidden or ignored)');
      await replicator.push(planned.change);
    },
    onQuiet: async (index: number): Promise<void> => {
      context.noteSource(index);
      if (index < next) return;
      next = index + 1;
      clusterIndex.anchorMoved();
      replicator.quiet(index);
    },
    onContact: (index: number | undefined): void => {
      context.noteSource(index);
      clusterIndex.noteIndex(index);
    },
  };
  const stopFollowing = new AbortController();
  const following = clusterIndex.run(AbortSignal.any([halt, stopFollowing.signal]));
  try {
    await watchLoop();
  } finally {
    stopFollowing.abort();
    await following;
  }

  async function watchLoop(): Promise<void> {
    while (!halt.aborted) {
      try {
        const round = await watchOnce(src, space.mapping.srcPrefix, { waitIndex: next, mode, idleMs: context.idleRenewMs, signal: halt, renew: clusterIndex.nextRound() }, handlers);
        next = Math.max(next, round.next);
        mode = round.mode;
        clusterIndex.anchorMoved();
        backoff.reset();
      } catch (error) {
        if (replicator.failed !== undefined) throw replicator.failed;
        if (halt.aborted) return;
        if (error instanceof IndexClearedError) {
          context.noteSource(error.wire.index);
          if (context.onHistoryLost === 'exit') throw new SourceHistoryError(`${error.message}; run with --reload (or --on-index-cleared=resync)`);
          log.warn({ waitIndex: error.waitIndex, sourceIndex: error.wire.index }, 'source history cleared: resyncing');
          next = (await context.resync('index_cleared')) + 1;
          mode = 'poll';
          clusterIndex.anchorMoved();
          continue;
        }
        if (!isTransient(error)) throw error;
        mode = 'poll';
        const ms = await backoff.wait(halt).catch(() => 0);
        logRetry(log, error, { waitIndex: next, retryInMs: ms }, 'source watch failed, retrying');
      }
    }
  }
}
