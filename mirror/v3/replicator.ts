// The destination side of the v3 mirror and of the v2 → v3 migration: a
// queue of source revisions in order, and one committer that sends them as
// batches (batch.ts), one Txn in flight at a time. One at a time is what
// keeps the record exact: each Txn compares the record the previous one left.
// While a Txn is in flight the queue fills, so the next Txn carries more
// revisions: under load the mirror writes fewer, larger Txns.
import type { MirrorLog } from '../log.js';
import { StrictReplicationError } from '../apply.js';
import { isTransientV3, type EtcdV3Client } from '../etcd/v3/client.js';
import { keyText, type KeyBytes } from '../etcd/v3/keys.js';
import type { MirrorMetrics } from '../metrics.js';
import { Backoff, logRetry, MirrorStoppedError } from '../retry.js';
import { takeBatch, type Batch } from './batch.js';
import { commitBatch } from './commit.js';
import type { RevisionChange } from './plan.js';

/** Revisions that only move the record (ignored keys, quiet proofs) wait this long for company. */
const recordOnlyDelayMs = 1_000;
/** Past this much queued, the source is read no further until the destination catches up. */
const maxQueuedRevisions = 20_000;
const maxQueuedBytes = 64 * 1024 * 1024;

export interface ReplicatorOptions {
  readonly dst: EtcdV3Client;
  readonly recordKey: KeyBytes;
  /** The revision the destination's record holds now. */
  readonly recorded: number;
  readonly metrics: MirrorMetrics;
  readonly log: MirrorLog;
  readonly stopping: AbortSignal;
}

function changeBytes(change: RevisionChange): number {
  return change.writes.reduce((sum, write) => sum + (write.op === 'put' ? write.value.length : 0) + 64, 0);
}

export class Replicator {
  /** Every source revision up to this one is in the destination, and recorded there. */
  recorded: number;
  /** The newest revision queued (or known to change nothing). */
  received: number;
  /** Source events written to the destination since start. */
  replicated = 0;
  private readonly queue: RevisionChange[] = [];
  private queuedBytes = 0;
  private failure: unknown;
  private flushRecordOnly = false;
  private recordOnlySince: number | undefined;
  private wakeCommitter: (() => void) | undefined;
  private waiters: Array<() => void> = [];
  readonly done: Promise<void>;

  constructor(private readonly options: ReplicatorOptions) {
    this.recorded = options.recorded;
    this.received = options.recorded;
    this.done = this.commitLoop();
    // The caller learns of a failure through push/drain/done; this keeps it from being unhandled meanwhile.
    this.done.catch(() => undefined);
  }

  get failed(): unknown {
    return this.failure;
  }

  /** Queues one source revision; waits while the queue is full. Revisions at or below `received` are already covered. */
  async push(change: RevisionChange): Promise<void> {
    this.throwIfFailed();
    if (change.revision <= this.received) return;
    this.received = change.revision;
    this.queue.push(change);
    this.queuedBytes += changeBytes(change);
    this.wakeCommitter?.();
    while (this.queue.length >= maxQueuedRevisions || this.queuedBytes >= maxQueuedBytes) {
      await this.nextChange();
      this.throwIfFailed();
      if (this.options.stopping.aborted) throw new MirrorStoppedError();
    }
  }

  /** Nothing under the prefix changed up to `revision`: the record may move there. */
  quiet(revision: number): void {
    if (revision <= this.received || this.failure !== undefined) return;
    this.received = revision;
    this.queue.push({ revision, writes: [], action: 'quiet', events: 0 });
    this.wakeCommitter?.();
  }

  /** Waits until everything queued is committed (record-only revisions at once). */
  async drain(): Promise<void> {
    this.flushRecordOnly = true;
    this.wakeCommitter?.();
    while (this.queue.length > 0) {
      this.throwIfFailed();
      if (this.options.stopping.aborted) throw new MirrorStoppedError();
      await this.nextChange();
    }
    this.flushRecordOnly = false;
    this.throwIfFailed();
  }

  /** After a resync recorded `revision` itself (the queue drained first). */
  reset(revision: number): void {
    this.recorded = revision;
    this.received = Math.max(this.received, revision);
    this.options.metrics.lastReplicatedIndex.set(revision);
  }

  private async commitLoop(): Promise<void> {
    const { stopping } = this.options;
    try {
      while (!stopping.aborted) {
        const batch = takeBatch(this.queue);
        if (batch === undefined) {
          await this.sleep();
          continue;
        }
        const writes = batch.kind === 'checked' ? batch.change.writes.length : batch.changes.reduce((sum, change) => sum + change.writes.length, 0);
        const carried = batch.kind === 'checked' ? 1 : batch.changes.length;
        if (writes === 0 && carried === this.queue.length && !this.flushRecordOnly) {
          // Only the record would move: wait a little for real writes to ride along.
          this.recordOnlySince ??= Date.now();
          const wait = this.recordOnlySince + recordOnlyDelayMs - Date.now();
          if (wait > 0) {
            await this.sleep(wait);
            continue;
          }
        }
        this.recordOnlySince = undefined;
        await this.commit(batch);
      }
    } catch (error) {
      if (!(error instanceof MirrorStoppedError)) {
        this.failure = error;
        this.wakeAll();
        throw error;
      }
    }
    this.wakeAll();
  }

  private async commit(batch: Batch): Promise<void> {
    const { dst, recordKey, metrics, log, stopping } = this.options;
    const changes = batch.kind === 'checked' ? [batch.change] : batch.changes;
    const last = changes[changes.length - 1];
    if (last === undefined) return;
    const backoff = new Backoff();
    const started = process.hrtime.bigint();
    for (;;) {
      if (stopping.aborted) throw new MirrorStoppedError();
      try {
        const outcome = await commitBatch(dst, batch, recordKey, this.recorded);
        if (outcome === 'already') log.info({ revision: last.revision }, 'revisions already applied (a retry after a lost answer): not applied twice');
        break;
      } catch (error) {
        if (error instanceof StrictReplicationError) {
          metrics.strictFailures.inc();
          log.error({ key: error.key, expected: error.expected, actual: error.actual, revision: error.index, action: error.action }, error.message);
          throw error;
        }
        if (!isTransientV3(error)) throw error;
        logRetry(log, error, { revisions: `${changes[0]?.revision ?? last.revision}-${last.revision}`, recordKey: keyText(recordKey) }, 'destination write failed, retrying');
        await backoff.wait(stopping);
      }
    }
    metrics.writeLatency.observe(Number(process.hrtime.bigint() - started) / 1e9);
    const events = changes.reduce((sum, change) => sum + change.events, 0);
    metrics.replicatedEvents.inc(events);
    this.replicated += events;
    this.recorded = last.revision;
    metrics.lastReplicatedIndex.set(last.revision);
    this.queue.splice(0, changes.length);
    this.queuedBytes = this.queue.reduce((sum, change) => sum + changeBytes(change), 0);
    log.debug({ revision: last.revision, revisions: changes.length, events }, 'replicated');
    this.wakeAll();
  }

  /** Until push/quiet/drain wakes the committer, `ms` pass, or the mirror stops. */
  private sleep(ms?: number): Promise<void> {
    const { stopping } = this.options;
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const wake = (): void => {
        if (timer !== undefined) clearTimeout(timer);
        stopping.removeEventListener('abort', wake);
        this.wakeCommitter = undefined;
        resolve();
      };
      if (ms !== undefined) timer = setTimeout(wake, ms);
      stopping.addEventListener('abort', wake, { once: true });
      this.wakeCommitter = wake;
      if (stopping.aborted) wake();
    });
  }

  private nextChange(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private wakeAll(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }
}
