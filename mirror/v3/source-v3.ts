// The v3 source: one watcher with prev_kv on the source prefix, from the
// revision after the record, feeding each revision to the replicator.
//
// Measured on etcd 3.4.23, and why the code looks as it does:
// - a watch from exactly the compaction revision is accepted, but that
//   revision's deletes are gone (compaction drops tombstones): so before
//   each watch the mirror reads at the recorded revision R, which fails with
//   "compacted" unless R itself is still in the history;
// - a watch from a revision the source has not reached is accepted and stays
//   silent: a source rebuilt or restored from a backup is "behind" the
//   record, and replicating its new history would mix two histories;
// - etcd never splits a revision across watch responses (without `fragment`).
import type { MirrorLog } from '../log.js';
import { EtcdV3Error, isCompactedError, isTransientV3, type EtcdV3Client, type WatchStream } from '../etcd/v3/client.js';
import { describeError } from '../etcd/client.js';
import type { WatchEvent } from '../etcd/v3/types.js';
import { Backoff, logRetry } from '../retry.js';
import { coveringInterval, type KeySpace } from './keyspace.js';
import { planRevision } from './plan.js';
import { quietUpTo } from './quiet.js';
import type { Replicator } from './replicator.js';

export interface FollowContext {
  readonly replicator: Replicator;
  readonly log: MirrorLog;
  /** Aborted on stop and when the replicator fails. */
  readonly halt: AbortSignal;
  /** Any answer from the source, with its current revision or index when it says. */
  noteSource(revision?: number): void;
  /** Resyncs (after draining the queue) and returns the revision the destination now records. */
  resync(reason: 'index_cleared'): Promise<number>;
  readonly onHistoryLost: 'resync' | 'exit';
  /** How long a quiet watch waits before proving the prefix quiet (--idle-renew-ms). */
  readonly idleRenewMs: number;
}

/** The mirror cannot go on from the source's history; the message says what the operator can do. */
export class SourceHistoryError extends Error {
  readonly code = 'ETCD_WARDEN_SOURCE_HISTORY';
}

class HistoryLost extends Error {
  constructor(
    readonly from: number,
    readonly compactRevision: number,
  ) {
    super(`the source compacted its history past revision ${from - 1} (compaction at ${compactRevision})`);
  }
}

function byRevision(events: readonly WatchEvent[]): Array<[number, WatchEvent[]]> {
  const groups: Array<[number, WatchEvent[]]> = [];
  for (const event of events) {
    const last = groups[groups.length - 1];
    if (last !== undefined && last[0] === event.kv.modRevision) last[1].push(event);
    else groups.push([event.kv.modRevision, [event]]);
  }
  return groups;
}

function isFutureRevision(error: unknown): boolean {
  return error instanceof EtcdV3Error && error.details.includes('future revision');
}

export async function followV3(src: EtcdV3Client, space: KeySpace, context: FollowContext, after: number): Promise<void> {
  const { replicator, log, halt } = context;
  const interval = coveringInterval(space.sourceBase);
  let next = after + 1;
  const backoff = new Backoff();
  while (!halt.aborted) {
    let stream: WatchStream | undefined;
    let quietTimer: NodeJS.Timeout | undefined;
    const closeStream = (): void => stream?.close();
    halt.addEventListener('abort', closeStream, { once: true });
    try {
      const probe = await src.range({ key: interval.start, end: interval.end, revision: next - 1, countOnly: true });
      context.noteSource(probe.header.revision);
      stream = await src.watch({ key: interval.start, end: interval.end, startRevision: next, prevKv: true, progressNotify: true });
      let lastMessage = Date.now();
      let proving = false;
      quietTimer = setInterval(() => {
        if (proving || Date.now() - lastMessage < context.idleRenewMs || replicator.received !== replicator.recorded) return;
        proving = true;
        const since = replicator.received;
        quietUpTo(src, space.sourceBase, since)
          .then((revision) => {
            context.noteSource(revision);
            // Only if nothing arrived while proving: a create seen before the
            // proof's read and its delete after it would otherwise be skipped.
            if (revision === undefined || replicator.received !== since || revision < next) return;
            replicator.quiet(revision);
            next = revision + 1;
          }, (error: unknown) => log.debug({ err: describeError(error) }, 'quiet proof failed'))
          .finally(() => {
            proving = false;
          });
      }, Math.max(100, Math.floor(context.idleRenewMs / 2)));
      for await (const message of stream) {
        lastMessage = Date.now();
        backoff.reset();
        if (message.header.revision > 0) context.noteSource(message.header.revision);
        switch (message.kind) {
          case 'created':
            if (message.header.revision < next - 1) throw sourceBehind(next - 1, message.header.revision);
            break;
          case 'progress':
            // etcd's own timed notification, sent in order with the events.
            if (message.header.revision >= next) {
              replicator.quiet(message.header.revision);
              next = message.header.revision + 1;
            }
            break;
          case 'canceled':
            if (message.compactRevision > 0) throw new HistoryLost(next, message.compactRevision);
            throw new SourceHistoryError(`the source canceled the watch: ${message.reason || 'no reason given'}`);
          case 'events':
            for (const [revision, events] of byRevision(message.events)) {
              if (revision < next) continue;
              const planned = planRevision(space, revision, events);
              if (planned.ignored > 0) log.debug({ revision, ignored: planned.ignored }, 'not replicated (--src-ignore-keys-regex)');
              await replicator.push(planned.change);
              next = revision + 1;
            }
            break;
        }
      }
    } catch (error) {
      if (replicator.failed !== undefined) throw replicator.failed;
      if (halt.aborted) return;
      if (error instanceof HistoryLost || isCompactedError(error)) {
        const reason = error instanceof HistoryLost ? error.message : `the source compacted its history past the recorded revision ${next - 1}`;
        if (context.onHistoryLost === 'exit') throw new SourceHistoryError(`${reason}; run with --reload (or --on-index-cleared=resync)`);
        log.warn({ recorded: next - 1, reason }, 'source history lost: resyncing');
        next = (await context.resync('index_cleared')) + 1;
        continue;
      }
      if (isFutureRevision(error)) throw sourceBehind(next - 1, undefined);
      if (!isTransientV3(error)) throw error;
      const ms = await backoff.wait(halt).catch(() => 0);
      logRetry(log, error, { watchFrom: next, retryInMs: ms }, 'source watch failed, retrying');
    } finally {
      clearInterval(quietTimer);
      halt.removeEventListener('abort', closeStream);
      stream?.close();
    }
  }
}

function sourceBehind(recorded: number, current: number | undefined): SourceHistoryError {
  return new SourceHistoryError(
    `the source is at revision ${current ?? 'below the record'}, behind the recorded revision ${recorded}: ` +
      'a rebuilt or restored cluster has another history; run with --reload to copy it afresh',
  );
}
