// The mirror loop, its state in one object, its transitions top to bottom:
// resume from the recorded index (or reload) → watch the source (source.ts)
// → plan each event's one destination write (apply.ts) → run the writes
// through the pipeline that records the index safely (pipeline.ts). The
// source's history lost under us → resync (resync-run.ts), then on.
import { setMaxListeners } from 'node:events';
import type { MirrorLog } from './log.js';
import { applyWrite, planEvent, StrictReplicationError, type DestinationWrite, type ReplicationPolicy } from './apply.js';
import { ClusterIndexFollower, reanchorEveryEvents } from './cluster-index.js';
import { describeError, isTransient, type EtcdClient } from './etcd/client.js';
import type { RawEvent } from './etcd/types.js';
import { replicationIndexKey } from './index-key.js';
import { destinationRoot } from './key-mapping.js';
import { createMirrorMetrics, type MirrorMetrics } from './metrics.js';
import type { MirrorOptions } from './options.js';
import { ReplicationPipeline, type PipelineItem } from './pipeline.js';
import { resyncOnce } from './resync-run.js';
import { Backoff, logRetry, MirrorStoppedError, withRetry } from './retry.js';
import { IndexClearedError, watchOnce, type WatchHandlers, type WatchMode } from './source.js';
import { exitFor, type MirrorExit, type MirrorStop } from './stop.js';

class FatalMirrorError extends Error {
  readonly code = 'ETCD_WARDEN_FATAL';
}

/** Destination writes to unrelated keys in flight at once (one at a time caps out near 500 events/s). */
export const writesInFlight = 64;
/** How often the applied index is recorded in the destination. */
const recordEveryMs = 100;
const progressEveryMs = 10_000;

export class MirrorLoop {
  readonly metrics: MirrorMetrics;
  private readonly policy: ReplicationPolicy;
  private readonly indexKey: string;
  /** Aborted by stop(). */
  private readonly stopping = new AbortController();
  /** Aborted by stop() and when the pipeline fails: ends the watch at once rather than at the next event. */
  private readonly halt = new AbortController();
  private pipeline: ReplicationPipeline | undefined;
  private pipelineFailure: unknown;
  /** The next source index to watch from: follows every delivered event, not only finished rounds. */
  private next = 0;
  private mode: WatchMode = 'poll';
  private sourceIndex = 0;
  private replicated = 0;
  /** `replicated` at the last progress line. */
  private lastProgress = 0;
  /** Why replication stopped, when that needs a human (for /status). */
  stopped: MirrorStop | undefined;
  /** Re-anchors a quiet prefix's watch when the cluster moves far (bursts outside the prefix). */
  private readonly clusterIndex: ClusterIndexFollower;

  constructor(
    private readonly src: EtcdClient,
    private readonly dst: EtcdClient,
    private readonly options: MirrorOptions,
    private readonly log: MirrorLog,
  ) {
    this.policy = { mapping: { srcPrefix: options.srcPrefix, dstPrefix: options.dstPrefix, strip: options.strip }, ignore: options.srcIgnoreKeysRegex };
    this.indexKey = replicationIndexKey(options.dstPrefix);
    this.metrics = createMirrorMetrics(() => this.lag);
    this.clusterIndex = new ClusterIndexFollower(src, { everyEvents: reanchorEveryEvents, idleMs: options.idleRenewMs, log, anchor: () => this.next - 1 });
    // Every write in flight may be waiting out a backoff on this signal while
    // the destination is down: that many listeners is expected.
    setMaxListeners(writesInFlight + 16, this.stopping.signal);
    this.stopping.signal.addEventListener('abort', () => this.halt.abort(), { once: true });
  }

  /** Source index minus the index up to which every event is applied. */
  get lag(): number {
    return this.pipeline === undefined ? 0 : Math.max(0, this.sourceIndex - this.pipeline.appliedIndex);
  }

  stop(): void {
    this.stopping.abort();
  }

  /** Replicates until stopped (exit 0) or a fatal error (exit 1), then records how far it got. */
  async run(): Promise<MirrorExit> {
    const recorder = setInterval(() => this.recordApplied(), recordEveryMs);
    const progress = setInterval(() => this.reportProgress(), progressEveryMs);
    let exit: MirrorExit = { code: 0, reason: 'stopped' };
    try {
      await this.replicate();
    } catch (error) {
      if (!(error instanceof MirrorStoppedError) || !this.stopping.signal.aborted) {
        exit = exitFor(error);
        this.stopped = exit.stop;
        this.log.error({ err: describeError(error), appliedIndex: this.pipeline?.appliedIndex }, `mirror stopping: ${exit.reason}`);
      }
    }
    clearInterval(recorder);
    clearInterval(progress);
    this.metrics.setState('stopped');
    await this.recordFinalIndex();
    return exit;
  }

  private async replicate(): Promise<void> {
    const start = this.options.reload ? await this.resync('reload') : await this.resume();
    this.log.info({ index: start, indexKey: this.indexKey }, 'starting replication');
    this.next = start + 1;
    const stopFollowing = new AbortController();
    const following = this.clusterIndex.run(AbortSignal.any([this.halt.signal, stopFollowing.signal]));
    try {
      await this.follow();
    } finally {
      stopFollowing.abort();
      await following;
    }
  }

  private async follow(): Promise<void> {
    const backoff = new Backoff();
    while (!this.halt.signal.aborted) {
      try {
        const renew = this.clusterIndex.nextRound();
        const round = await watchOnce(this.src, this.options.srcPrefix, { waitIndex: this.next, mode: this.mode, idleMs: this.options.idleRenewMs, signal: this.halt.signal, renew }, this.handlers);
        if (renew.aborted) this.log.debug({ from: this.next, next: round.next, sourceIndex: this.sourceIndex }, 'watch re-anchored: the source cluster moved far beyond the prefix');
        this.next = Math.max(this.next, round.next);
        this.mode = round.mode;
        this.clusterIndex.anchorMoved();
        backoff.reset();
      } catch (error) {
        if (this.pipelineFailure !== undefined) throw this.pipelineFailure;
        if (this.halt.signal.aborted) return;
        if (error instanceof IndexClearedError) {
          await this.resyncAfter(error);
          continue;
        }
        if (!isTransient(error)) throw error;
        this.mode = 'poll';
        const ms = await backoff.wait(this.stopping.signal).catch(() => 0);
        logRetry(this.log, error, { waitIndex: this.next, retryInMs: ms }, 'source watch failed, retrying');
      }
    }
    if (this.pipelineFailure !== undefined) throw this.pipelineFailure;
  }

  /** Where etcdmirror (or this mirror) left off: the index recorded in the destination. */
  private async resume(): Promise<number> {
    const node = await this.retry('reading the replication index', () => this.dst.read(this.indexKey), { key: this.indexKey });
    const stored = Number(node?.value);
    if (node === undefined || !Number.isInteger(stored) || stored < 0) {
      throw new FatalMirrorError(`no valid replication index at ${this.indexKey} in the destination: restart with --reload`);
    }
    this.pipeline = this.newPipeline(stored);
    return stored;
  }

  private readonly handlers: WatchHandlers = {
    onEvent: async (raw, index) => {
      this.noteSource(index);
      if (index < this.next) return;
      this.next = index + 1;
      this.clusterIndex.anchorMoved();
      await this.pipeline?.push(this.planned(raw, index));
    },
    onQuiet: async (index) => {
      this.noteSource(index);
      if (index < this.next) return;
      this.next = index + 1;
      this.clusterIndex.anchorMoved();
      await this.pipeline?.push({ index });
    },
    onContact: (index) => {
      this.noteSource(index);
      this.clusterIndex.noteIndex(index);
    },
  };

  /** One event as a pipeline item: nothing to write (it still advances the index), or its one write. */
  private planned(raw: RawEvent, index: number): PipelineItem {
    const plan = planEvent(raw, index, this.policy);
    if (plan.kind === 'skip') {
      if (plan.why !== 'outside the source prefix') this.log.debug({ key: raw.node.key, index, action: raw.action }, `not replicated (${plan.why})`);
      return { index };
    }
    const write = plan.write;
    return { index, key: write.key, subtree: write.kind === 'delete' && write.recursive, run: () => this.apply(write, raw, index) };
  }

  private async apply(write: DestinationWrite, raw: RawEvent, index: number): Promise<void> {
    const started = process.hrtime.bigint();
    let outcome: 'applied' | 'already';
    try {
      outcome = await this.retry('destination write', () => applyWrite(this.dst, write, index, raw.action), { key: write.key, index });
    } catch (error) {
      if (error instanceof StrictReplicationError) {
        this.metrics.strictFailures.inc();
        this.log.error({ key: error.key, expected: error.expected, actual: error.actual, index, action: raw.action }, error.message);
      }
      throw error;
    }
    this.metrics.writeLatency.observe(Number(process.hrtime.bigint() - started) / 1e9);
    this.metrics.replicatedEvents.inc();
    this.replicated += 1;
    this.log.debug({ action: raw.action, key: raw.node.key, dstKey: write.key, index, outcome }, 'replicated');
  }

  private async resyncAfter(cleared: IndexClearedError): Promise<void> {
    this.noteSource(cleared.wire.index);
    if (this.options.onIndexCleared === 'exit') throw new FatalMirrorError(`${cleared.message}; run with --reload (or --on-index-cleared=resync)`);
    this.log.warn({ waitIndex: cleared.waitIndex, sourceIndex: cleared.wire.index }, 'source history cleared: resyncing');
    this.next = (await this.resync('index_cleared')) + 1;
    this.mode = 'poll';
    this.clusterIndex.anchorMoved();
  }

  /** Snapshot the source, apply only the differences, record the snapshot's index; returns it. */
  private async resync(reason: 'reload' | 'index_cleared'): Promise<number> {
    this.metrics.setState('resyncing');
    const started = Date.now();
    this.log.info({ reason, srcPrefix: this.options.srcPrefix, dstRoot: destinationRoot(this.policy.mapping) }, 'resync starting');
    if (this.pipeline !== undefined) await this.pipeline.drain();
    const result = await this.retry('resync', () => resyncOnce(this.src, this.dst, this.policy.mapping, this.policy.ignore, this.log), { reason });
    this.noteSource(result.index);
    await this.recordIndex(result.index);
    if (this.pipeline === undefined) this.pipeline = this.newPipeline(result.index);
    else this.pipeline.reset(result.index);
    const seconds = (Date.now() - started) / 1000;
    this.metrics.loadTime.observe(seconds);
    this.metrics.resyncs.inc({ reason });
    this.metrics.lastReplicatedIndex.set(result.index);
    this.metrics.setState('replicating');
    this.log.info({ reason, ...result, seconds }, 'resync done');
    return result.index;
  }

  private newPipeline(start: number): ReplicationPipeline {
    return new ReplicationPipeline(start, {
      maxInFlight: writesInFlight,
      recordIndex: (index) => this.recordIndex(index),
      onApplied: (index) => this.metrics.lastReplicatedIndex.set(index),
      onFailure: (error) => {
        this.pipelineFailure = error;
        this.halt.abort();
      },
    });
  }

  private recordIndex(index: number): Promise<void> {
    return this.retry('recording the replication index', async () => {
      await this.dst.put(this.indexKey, { value: String(index) });
    }, { key: this.indexKey, index });
  }

  /** On the timer: the pipeline records how far every event is applied, if that moved. */
  private recordApplied(): void {
    this.pipeline?.record().catch((error: unknown) => {
      if (!(error instanceof MirrorStoppedError)) this.log.warn({ err: describeError(error) }, 'index record failed');
    });
  }

  /**
   * Everything up to appliedIndex is applied: record it before leaving, so a
   * restart replays as little as possible (never less than needed).
   */
  private async recordFinalIndex(): Promise<void> {
    if (this.pipeline === undefined) return;
    await this.pipeline.settle();
    const final = this.pipeline.appliedIndex;
    if (final <= this.pipeline.recordedIndex) return;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await this.dst.put(this.indexKey, { value: String(final) });
        this.log.info({ index: final, key: this.indexKey }, 'replication index recorded');
        return;
      } catch (error) {
        this.log.warn({ err: describeError(error), index: final }, 'could not record the replication index on stop');
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  }

  private noteSource(index: number | undefined): void {
    this.metrics.markSourceContact();
    if (index !== undefined && index > this.sourceIndex) {
      this.sourceIndex = index;
      this.metrics.sourceIndex.set(index);
    }
  }

  private reportProgress(): void {
    if (this.replicated === this.lastProgress) return;
    this.lastProgress = this.replicated;
    const pipeline = this.pipeline;
    this.log.info({ replicated: this.replicated, appliedIndex: pipeline?.appliedIndex, recordedIndex: pipeline?.recordedIndex, sourceIndex: this.sourceIndex, lag: this.lag }, 'replication progress');
  }

  private retry<T>(what: string, work: () => Promise<T>, context: Record<string, unknown>): Promise<T> {
    return withRetry(what, work, this.stopping.signal, this.log, context);
  }
}
