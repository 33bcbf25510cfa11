// The v3 mirror and the v2 → v3 migration, top to bottom: read the record
// (or --reload: resync), follow the source (source-v3.ts: a v3 watch;
// source-v2.ts: the v2 mirror's watch), each revision planned (plan.ts,
// plan-v2.ts) and committed in order with the record in the same Txn
// (replicator.ts → batch.ts/checked.ts → commit.ts); history lost → resync
// (resync-run.ts). Status and metrics are the v2 mirror's (status.ts,
// metrics.ts) with an `api` label.
//
// Design notes (measured on etcd 3.4.23, kept from the module's first notes):
// - exactly once: one Txn in flight, each comparing the record the previous
//   one left; a Txn whose answer was lost is retried as is and answers
//   "already" (the record is at or past its last revision);
// - group commit: consecutive revisions share a Txn while they fit etcd's
//   limits (128 compares and operations, under --max-request-bytes) and write
//   different keys (batch.ts); under load one Txn carries up to 127 revisions;
// - a previous value over 4 KiB is read and checked in the mirror and the
//   Txn compares mod_revision instead (a 1 MiB compare plus a 1 MiB value
//   exceeds the request limit); a DeleteRange of more keys than a Txn
//   compares is checked on a span read at one revision (checked.ts);
// - leases are not copied: keys are written without one, and the lease's
//   expiry or revocation arrives as a delete event (as v2 TTLs do).
import type { MirrorLog } from '../log.js';
import { v2Client, v3Connection } from '../connections.js';
import { describeError, isTransient } from '../etcd/client.js';
import { EtcdV3Client, isCompactedError, isTransientV3 } from '../etcd/v3/client.js';
import { keyText, type KeyBytes } from '../etcd/v3/keys.js';
import type { RunningMirror } from '../main.js';
import { createMirrorMetrics } from '../metrics.js';
import { redactUrl, type MirrorOptions } from '../options.js';
import { Backoff, logRetry, MirrorStoppedError } from '../retry.js';
import { startStatusServer } from '../status.js';
import { exitFor, type MirrorExit, type MirrorStop } from '../stop.js';
import { keySpace, revisionRecordKey, v2IndexRecordKey, type KeySpace } from './keyspace.js';
import { Replicator } from './replicator.js';
import { DestinationChangedError, resyncInto, sourceStateV2, sourceStateV3, type SourceState } from './resync-run.js';
import { followV2 } from './source-v2.js';
import { followV3, type FollowContext } from './source-v3.js';

class FatalMirrorError extends Error {
  readonly code = 'ETCD_WARDEN_FATAL';
}

const progressEveryMs = 10_000;

/** `etcd-warden mirror --api v3 SRC DST`: a v3 keyspace into a v3 keyspace. */
export function startMirrorV3(options: MirrorOptions, log: MirrorLog): Promise<RunningMirror> {
  const source = v3Connection(options, 'source', log);
  const src = new EtcdV3Client(source.url, source.options);
  return startIntoV3(options, log, {
    api: 'v3',
    recordKey: revisionRecordKey(options.dstPrefix),
    readSource: (space) => sourceStateV3(src, space),
    follow: (space, context, after) => followV3(src, space, context, after),
    close: async () => src.close(),
  });
}

/** `etcd-warden mirror --src-api v2 --dst-api v3 SRC DST`: a live v2 keyspace into v3 keys with the same names. */
export function startMirrorV2ToV3(options: MirrorOptions, log: MirrorLog): Promise<RunningMirror> {
  const src = v2Client(options, 'source', log, 4);
  return startIntoV3(options, log, {
    api: 'v2-to-v3',
    recordKey: v2IndexRecordKey(options.dstPrefix),
    readSource: (space) => sourceStateV2(src, space),
    follow: (space, context, after) => followV2(src, space, context, after),
    close: () => src.close(),
  });
}

interface SourceSide {
  readonly api: 'v3' | 'v2-to-v3';
  readonly recordKey: KeyBytes;
  readSource(space: KeySpace): Promise<SourceState>;
  follow(space: KeySpace, context: FollowContext, after: number): Promise<void>;
  close(): Promise<void>;
}

async function startIntoV3(options: MirrorOptions, log: MirrorLog, source: SourceSide): Promise<RunningMirror> {
  const destination = v3Connection(options, 'destination', log);
  const dst = new EtcdV3Client(destination.url, destination.options);
  const space = keySpace({ srcPrefix: options.srcPrefix, dstPrefix: options.dstPrefix, strip: options.strip }, options.srcIgnoreKeysRegex);
  const recordKey = source.recordKey;
  const v2Source = source.api === 'v2-to-v3';
  const stopping = new AbortController();
  // Aborted on stop and when the replicator fails: ends the watch at once.
  const halt = new AbortController();
  stopping.signal.addEventListener('abort', () => halt.abort(), { once: true });
  let sourceRevision = 0;
  let replicator: Replicator | undefined;
  const lag = (): number => (replicator === undefined ? 0 : Math.max(0, sourceRevision - replicator.recorded));
  const metrics = createMirrorMetrics(lag, source.api);
  let stopped: MirrorStop | undefined;
  const status = await startStatusServer(options.statusHost, options.port, { api: source.api, metrics, lag, stop: () => stopped });
  log.info(
    { api: source.api, port: status.port, host: options.statusHost, src: redactUrl(options.src), dst: redactUrl(options.dst), srcPrefix: options.srcPrefix, dstPrefix: options.dstPrefix, recordKey: keyText(recordKey) },
    'mirror status server listening',
  );

  const noteSource = (revision?: number): void => {
    metrics.markSourceContact();
    if (revision !== undefined && revision > sourceRevision) {
      sourceRevision = revision;
      metrics.sourceIndex.set(revision);
    }
  };

  async function withRetry<T>(what: string, work: () => Promise<T>): Promise<T> {
    const backoff = new Backoff();
    for (;;) {
      if (stopping.signal.aborted) throw new MirrorStoppedError();
      try {
        return await work();
      } catch (error) {
        // A compaction during a paginated snapshot, or a destination key written during a resync: read again.
        const again = isTransientV3(error) || isTransient(error) || isCompactedError(error) || error instanceof DestinationChangedError;
        if (!again) throw error;
        logRetry(log, error, {}, `${what} failed, retrying`);
        await backoff.wait(stopping.signal);
      }
    }
  }

  async function readRecord(): Promise<number | undefined> {
    const found = (await dst.range({ key: recordKey })).kvs[0];
    if (found === undefined) return undefined;
    const value = Number(found.value.toString());
    if (!Number.isInteger(value) || value < 0) throw new FatalMirrorError(`the record ${keyText(recordKey)} holds ${JSON.stringify(found.value.toString())}, not a revision: restart with --reload`);
    return value;
  }

  function startReplicator(recorded: number): Replicator {
    const created = new Replicator({ dst, recordKey, recorded, metrics, log, stopping: halt.signal });
    created.done.catch(() => halt.abort());
    metrics.lastReplicatedIndex.set(recorded);
    return created;
  }

  async function resync(reason: 'reload' | 'index_cleared'): Promise<number> {
    metrics.setState('resyncing');
    const started = Date.now();
    log.info({ reason, srcPrefix: options.srcPrefix, dstPrefix: options.dstPrefix }, 'resync starting');
    if (replicator !== undefined) await replicator.drain();
    const result = await withRetry('resync', async () => {
      const recorded = replicator?.recorded ?? (await readRecord());
      const state = await source.readSource(space);
      noteSource(state.revision);
      if (state.emptyDirectories.length > 0) {
        log.info({ count: state.emptyDirectories.length, directories: state.emptyDirectories.slice(0, 20) }, 'empty directories not copied: v3 keys imply their directories');
      }
      return resyncInto(dst, space, recordKey, recorded, state, v2Source);
    });
    if (replicator === undefined) replicator = startReplicator(result.revision);
    else replicator.reset(result.revision);
    const seconds = (Date.now() - started) / 1000;
    metrics.loadTime.observe(seconds);
    metrics.resyncs.inc({ reason });
    metrics.setState('replicating');
    log.info({ reason, ...result, seconds }, 'resync done');
    return result.revision;
  }

  async function replicate(): Promise<void> {
    let start: number;
    if (options.reload) start = await resync('reload');
    else {
      const recorded = await withRetry('reading the record', readRecord);
      if (recorded === undefined) throw new FatalMirrorError(`no recorded revision at ${keyText(recordKey)} in the destination: restart with --reload`);
      replicator = startReplicator(recorded);
      start = recorded;
    }
    const running = replicator;
    if (running === undefined) throw new Error('replication started without a replicator');
    log.info({ revision: start, recordKey: keyText(recordKey) }, 'starting replication');
    const context: FollowContext = {
      replicator: running,
      log,
      halt: halt.signal,
      noteSource,
      resync: () => resync('index_cleared'),
      onHistoryLost: options.onIndexCleared,
      idleRenewMs: options.idleRenewMs,
    };
    await source.follow(space, context, start);
    if (running.failed !== undefined) throw running.failed;
  }

  let lastProgress = 0;
  const progress = setInterval(() => {
    if (replicator === undefined || replicator.replicated === lastProgress) return;
    lastProgress = replicator.replicated;
    log.info({ replicated: replicator.replicated, recorded: replicator.recorded, sourceRevision, lag: lag() }, 'replication progress');
  }, progressEveryMs);

  const done = (async (): Promise<MirrorExit> => {
    let exit: MirrorExit = { code: 0, reason: 'stopped' };
    try {
      await replicate();
    } catch (error) {
      if (!(error instanceof MirrorStoppedError) || !stopping.signal.aborted) {
        exit = exitFor(error);
        stopped = exit.stop;
        log.error({ err: describeError(error), recorded: replicator?.recorded }, `mirror stopping: ${exit.reason}`);
      }
    }
    halt.abort();
    clearInterval(progress);
    metrics.setState('stopped');
    // The Txn in flight finishes (or fails) before the clients close.
    await replicator?.done.catch(() => undefined);
    return exit;
  })();
  return {
    statusPort: status.port,
    done,
    async stop() {
      stopping.abort();
      await done;
      await status.close();
      await source.close();
      dst.close();
    },
  };
}
