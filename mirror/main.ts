// The mirror loop, top to bottom: watch the source (source.ts) → turn each
// event into one destination write (apply.ts) → run writes through the
// pipeline that records the index safely (pipeline.ts). Index lost → resync
// (resync-run.ts). Status and metrics in status.ts / metrics.ts.
import { setMaxListeners } from 'node:events';
import type { Logger } from 'pino';
import { applyWrite, planWrite, StrictReplicationError, UnknownActionError } from './apply.js';
import { EtcdClient, describeError, isTransient } from './etcd/client.js';
import { isEtcdAction } from './etcd/types.js';
import { replicationIndexKey } from './index-key.js';
import { covers, isHiddenBelow } from './etcd/keys.js';
import { destinationKey, destinationRoot, type KeyMapping } from './key-mapping.js';
import { createMirrorMetrics } from './metrics.js';
import { redactUrl, type MirrorOptions } from './options.js';
import { ReplicationPipeline, type PipelineItem } from './pipeline.js';
import { Backoff, MirrorStoppedError } from './retry.js';
import { resyncOnce } from './resync-run.js';
import { IndexClearedError, watchOnce, type RawEvent, type WatchMode } from './source.js';
import { startStatusServer } from './status.js';

export interface MirrorExit {
  code: 0 | 1;
  reason: string;
}

export interface RunningMirror {
  statusPort: number;
  stop(): Promise<void>;
  done: Promise<MirrorExit>;
}

class FatalMirrorError extends Error {
  readonly code = 'ETCD_WARDEN_FATAL';
}

/** Events between two index records at most; beyond that the record is forced. */
const recordEveryMs = 100;
const maxInFlight = 64;
const progressEveryMs = 10_000;

export async function startMirror(options: MirrorOptions, log: Logger): Promise<RunningMirror> {
  const src = new EtcdClient(options.src, { connections: 4 });
  const dst = new EtcdClient(options.dst, { connections: maxInFlight + 4 });
  const mapping: KeyMapping = { srcPrefix: options.srcPrefix, dstPrefix: options.dstPrefix, strip: options.strip };
  const indexKey = replicationIndexKey(options.dstPrefix);
  const stopping = new AbortController();
  // Every write in flight (up to maxInFlight) may be waiting out a backoff on
  // this signal while the destination is down: that many listeners is expected.
  setMaxListeners(maxInFlight + 16, stopping.signal);
  // Aborted on stop and when the pipeline fails: ends the watch at once
  // rather than at the next event.
  const halt = new AbortController();
  stopping.signal.addEventListener('abort', () => halt.abort(), { once: true });
  let pipelineFailure: unknown;
  let sourceIndex = 0;
  let pipeline: ReplicationPipeline | undefined;
  const lag = (): number => (pipeline === undefined ? 0 : Math.max(0, sourceIndex - pipeline.appliedIndex));
  const metrics = createMirrorMetrics(lag);
  const status = await startStatusServer(options.statusHost, options.port, metrics, lag);
  log.info({ port: status.port, host: options.statusHost, src: redactUrl(options.src), dst: redactUrl(options.dst), srcPrefix: options.srcPrefix, dstPrefix: options.dstPrefix, indexKey }, 'mirror status server listening');

  let replicated = 0;
  const noteSource = (index: number | undefined): void => {
    metrics.markSourceContact();
    if (index !== undefined && index > sourceIndex) {
      sourceIndex = index;
      metrics.sourceIndex.set(index);
    }
  };

  /** Retries a destination or source operation on transient errors until it works or we stop. */
  async function withRetry<T>(what: string, work: () => Promise<T>, context: Record<string, unknown> = {}): Promise<T> {
    const backoff = new Backoff();
    for (;;) {
      if (stopping.signal.aborted) throw new MirrorStoppedError();
      try {
        return await work();
      } catch (error) {
        if (!isTransient(error)) throw error;
        log.warn({ ...context, err: describeError(error) }, `${what} failed, retrying`);
        await backoff.wait(stopping.signal);
      }
    }
  }

  const recordIndex = (index: number): Promise<void> =>
    withRetry('recording the replication index', async () => {
      await dst.put(indexKey, { value: String(index) });
    }, { key: indexKey, index });

  function newPipeline(start: number): ReplicationPipeline {
    return new ReplicationPipeline(start, {
      maxInFlight,
      recordIndex,
      onApplied: (index) => metrics.lastReplicatedIndex.set(index),
      onFailure: (error) => {
        pipelineFailure = error;
        halt.abort();
      },
    });
  }

  async function resync(reason: 'reload' | 'index_cleared'): Promise<number> {
    metrics.setState('resyncing');
    const started = Date.now();
    log.info({ reason, srcPrefix: options.srcPrefix, dstRoot: destinationRoot(mapping) }, 'resync starting');
    if (pipeline !== undefined) await pipeline.drain();
    const result = await withRetry('resync', () => resyncOnce(src, dst, mapping, options.srcIgnoreKeysRegex, log), { reason });
    noteSource(result.index);
    await recordIndex(result.index);
    if (pipeline === undefined) pipeline = newPipeline(result.index);
    else pipeline.reset(result.index);
    const seconds = (Date.now() - started) / 1000;
    metrics.loadTime.observe(seconds);
    metrics.resyncs.inc({ reason });
    metrics.lastReplicatedIndex.set(result.index);
    metrics.setState('replicating');
    log.info({ reason, ...result, seconds }, 'resync done');
    return result.index;
  }

  async function applyItem(raw: RawEvent, index: number): Promise<PipelineItem> {
    const key = raw.node.key;
    if (!isEtcdAction(raw.action)) throw new UnknownActionError(raw.action, key, index);
    const event = raw.prevNode === undefined ? { action: raw.action, node: raw.node } : { action: raw.action, node: raw.node, prevNode: raw.prevNode };
    let dstKey = destinationKey(key, mapping);
    if (dstKey === undefined) {
      // etcd reports the delete/expire of an ancestor directory to watchers
      // below it (and matches ancestors unanchored: "/con" for "/conftool").
      const removesPrefix = (raw.action === 'delete' || raw.action === 'expire' || raw.action === 'compareAndDelete') && covers(key, mapping.srcPrefix);
      if (!removesPrefix) return { index };
      dstKey = destinationRoot(mapping);
      event.node = { ...raw.node, key: mapping.srcPrefix, dir: true };
      delete (event as { prevNode?: unknown }).prevNode;
    }
    if (isHiddenBelow(key, mapping.srcPrefix) || options.srcIgnoreKeysRegex?.test(key) === true) {
      log.debug({ key, index, action: raw.action }, 'not replicated (hidden or ignored)');
      return { index };
    }
    const write = planWrite(event, dstKey, index);
    const target = dstKey;
    return {
      index,
      key: target,
      subtree: write.kind === 'delete' && write.recursive,
      run: async () => {
        const started = process.hrtime.bigint();
        let outcome: 'applied' | 'already';
        try {
          outcome = await withRetry('destination write', () => applyWrite(dst, write, index, raw.action), { key: target, index });
        } catch (error) {
          if (error instanceof StrictReplicationError) {
            metrics.strictFailures.inc();
            log.error({ key: error.key, expected: error.expected, actual: error.actual, index, action: raw.action }, error.message);
          }
          throw error;
        }
        metrics.writeLatency.observe(Number(process.hrtime.bigint() - started) / 1e9);
        metrics.replicatedEvents.inc();
        replicated += 1;
        log.debug({ action: raw.action, key, dstKey: target, index, outcome }, 'replicated');
      },
    };
  }

  async function replicate(): Promise<void> {
    let start: number;
    if (options.reload) {
      start = await resync('reload');
    } else {
      const node = await withRetry('reading the replication index', () => dst.read(indexKey), { key: indexKey });
      const stored = Number(node?.value);
      if (node === undefined || !Number.isInteger(stored) || stored < 0) {
        throw new FatalMirrorError(`no valid replication index at ${indexKey} in the destination: restart with --reload`);
      }
      start = stored;
      pipeline = newPipeline(start);
    }
    log.info({ index: start, indexKey }, 'starting replication');
    let next = start + 1;
    let mode: WatchMode = 'poll';
    const backoff = new Backoff();
    // `next` follows every delivered event, not only finished rounds: a stream
    // cut mid-body has already handed over some events, and re-watching from
    // the round's start would feed them to the pipeline twice.
    const handlers = {
      onEvent: async (raw: RawEvent, index: number) => {
        noteSource(index);
        if (index < next) return;
        next = index + 1;
        const item = await applyItem(raw, index);
        await pipeline?.push(item);
      },
      onQuiet: async (index: number) => {
        noteSource(index);
        if (index < next) return;
        next = index + 1;
        await pipeline?.push({ index });
      },
      onContact: noteSource,
    };
    while (!halt.signal.aborted) {
      try {
        const round = await watchOnce(src, options.srcPrefix, next, mode, options.idleRenewMs, halt.signal, handlers);
        next = Math.max(next, round.next);
        mode = round.mode;
        backoff.reset();
      } catch (error) {
        if (pipelineFailure !== undefined) throw pipelineFailure;
        if (halt.signal.aborted) return;
        if (error instanceof IndexClearedError) {
          noteSource(error.wire.index);
          if (options.onIndexCleared === 'exit') {
            throw new FatalMirrorError(`${error.message}; run with --reload (or --on-index-cleared=resync)`);
          }
          log.warn({ waitIndex: error.waitIndex, sourceIndex: error.wire.index }, 'source history cleared: resyncing');
          next = (await resync('index_cleared')) + 1;
          mode = 'poll';
          continue;
        }
        if (!isTransient(error)) throw error;
        mode = 'poll';
        const ms = await backoff.wait(stopping.signal).catch(() => 0);
        log.warn({ err: describeError(error), waitIndex: next, retryInMs: ms }, 'source watch failed, retrying');
      }
    }
    if (pipelineFailure !== undefined) throw pipelineFailure;
  }

  const recorder = setInterval(() => {
    pipeline?.record().catch((error: unknown) => {
      if (!(error instanceof MirrorStoppedError)) log.warn({ err: describeError(error) }, 'index record failed');
    });
  }, recordEveryMs);
  let lastProgress = 0;
  const progress = setInterval(() => {
    if (replicated === lastProgress) return;
    lastProgress = replicated;
    log.info({ replicated, appliedIndex: pipeline?.appliedIndex, recordedIndex: pipeline?.recordedIndex, sourceIndex, lag: lag() }, 'replication progress');
  }, progressEveryMs);

  const done = (async (): Promise<MirrorExit> => {
    let exit: MirrorExit = { code: 0, reason: 'stopped' };
    try {
      await replicate();
    } catch (error) {
      if (!(error instanceof MirrorStoppedError) || !stopping.signal.aborted) {
        const reason = error instanceof Error ? error.message : String(error);
        log.error({ err: describeError(error), appliedIndex: pipeline?.appliedIndex }, `mirror stopping: ${reason}`);
        exit = { code: 1, reason };
      }
    }
    clearInterval(recorder);
    clearInterval(progress);
    metrics.setState('stopped');
    // Everything up to appliedIndex is applied: record it before leaving, so a
    // restart replays as little as possible (never less than needed).
    if (pipeline !== undefined) {
      await pipeline.settle();
      const final = pipeline.appliedIndex;
      if (final > pipeline.recordedIndex) {
        for (let attempt = 0; attempt < 3; attempt++) {
          try {
            await dst.put(indexKey, { value: String(final) });
            log.info({ index: final, key: indexKey }, 'replication index recorded');
            break;
          } catch (error) {
            log.warn({ err: describeError(error), index: final }, 'could not record the replication index on stop');
            await new Promise((resolve) => setTimeout(resolve, 200));
          }
        }
      }
    }
    return exit;
  })();
  return {
    statusPort: status.port,
    done,
    async stop() {
      stopping.abort();
      await done;
      await status.close();
      await Promise.all([src.close(), dst.close()]);
    },
  };
}
