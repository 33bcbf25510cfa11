// A small worker_threads pool that runs verifyPassword off the main thread.
// bcryptjs at cost 10 holds a thread for ~71 ms and its async API does not
// yield inside one hash (research notes §6.1); in a proxy carrying watches
// that is a 71 ms stall per login. Two workers on a 2-vCPU host keep one core
// for the event loop's own work.
//
// The queue is bounded: when every worker is busy and the queue is full,
// verify() rejects with VerifierPoolSaturatedError so the caller can answer
// 503 at once instead of piling up requests behind a password-spraying client.
//
// Workers start when a check needs one and stop after idleMs without work:
// each is a V8 isolate of its own (~9 MiB RSS idle), and most of a proxy's
// life passes on remembered credentials. Starting one costs ~40 ms, once per
// burst of logins.
import { Worker } from 'node:worker_threads';
import type { HashedPassword } from './password-hash.js';
import type { VerifyJobMessage, VerifyResultMessage } from './verifier-protocol.js';

export type VerifierPoolErrorCode =
  | 'EW_AUTH_VERIFIER_SATURATED'
  | 'EW_AUTH_VERIFIER_CLOSED'
  | 'EW_AUTH_VERIFIER_CRASHED'
  | 'EW_AUTH_VERIFIER_BROKEN';

export class VerifierPoolError extends Error {
  constructor(
    readonly code: VerifierPoolErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'VerifierPoolError';
  }
}

/** Every worker busy and the queue full: answer 503 (or 429), do not wait. */
export class VerifierPoolSaturatedError extends VerifierPoolError {
  constructor(readonly maxQueue: number) {
    super('EW_AUTH_VERIFIER_SATURATED', `password verifier busy: ${maxQueue} checks already queued`);
    this.name = 'VerifierPoolSaturatedError';
  }
}

export interface VerifierPoolOptions {
  /** Worker threads; default 2. */
  size?: number;
  /** Checks waiting for a worker before verify() rejects; default 64 (~2.3 s of bcrypt cost 10 on 2 workers). */
  maxQueue?: number;
  /** The worker script; default the compiled verifier-worker.js next to this file. */
  workerUrl?: URL;
  /** A worker idle this long stops; default 60 s. */
  idleMs?: number;
}

interface Job {
  readonly message: VerifyJobMessage;
  readonly resolve: (verified: boolean) => void;
  readonly reject: (error: Error) => void;
}

interface Slot {
  worker: Worker;
  job: Job | undefined;
  lastError: Error | undefined;
  /** Stops the worker when it stays idle. */
  idleTimer: NodeJS.Timeout | undefined;
  /** Stopped for idleness: its exit is not a crash. */
  retired: boolean;
}

const DEFAULT_SIZE = 2;
const DEFAULT_MAX_QUEUE = 64;
const DEFAULT_IDLE_MS = 60_000;
// A worker that cannot even load (missing dist file, syntax error) would be
// respawned forever; after this many crashes with no successful check in
// between, the pool gives up and says why.
const MAX_CONSECUTIVE_CRASHES = 5;

export class VerifierPool {
  readonly size: number;
  readonly maxQueue: number;
  private readonly idleMs: number;
  private readonly workerUrl: URL;
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private nextJobId = 1;
  private consecutiveCrashes = 0;
  private brokenBecause: string | undefined;
  private closed = false;

  constructor(options: VerifierPoolOptions = {}) {
    this.size = options.size ?? DEFAULT_SIZE;
    this.maxQueue = options.maxQueue ?? DEFAULT_MAX_QUEUE;
    if (!Number.isInteger(this.size) || this.size < 1) throw new RangeError(`pool size must be an integer >= 1, got ${this.size}`);
    if (!Number.isInteger(this.maxQueue) || this.maxQueue < 0) {
      throw new RangeError(`maxQueue must be an integer >= 0, got ${this.maxQueue}`);
    }
    this.workerUrl = options.workerUrl ?? new URL('./verifier-worker.js', import.meta.url);
    this.idleMs = options.idleMs ?? DEFAULT_IDLE_MS;
  }

  /** Worker threads running now (none until a check needs one, none again once idle). */
  get workers(): number {
    return this.slots.length;
  }

  /** Checks waiting for a worker. */
  get queued(): number {
    return this.queue.length;
  }

  /** Checks running in a worker right now. */
  get running(): number {
    return this.slots.filter((slot) => slot.job !== undefined).length;
  }

  verify(entry: HashedPassword, password: string): Promise<boolean> {
    if (this.closed) return Promise.reject(new VerifierPoolError('EW_AUTH_VERIFIER_CLOSED', 'password verifier is closed'));
    if (this.brokenBecause !== undefined) return Promise.reject(this.brokenError());
    return new Promise<boolean>((resolve, reject) => {
      const message: VerifyJobMessage = { id: this.nextJobId++, hash: entry.hash, scheme: entry.scheme, password };
      const job: Job = { message, resolve, reject };
      const idle = this.slots.find((slot) => slot.job === undefined);
      if (idle !== undefined) {
        this.dispatch(idle, job);
      } else if (this.slots.length < this.size) {
        const slot = this.startWorker();
        this.slots.push(slot);
        this.dispatch(slot, job);
      } else if (this.queue.length < this.maxQueue) {
        this.queue.push(job);
      } else {
        reject(new VerifierPoolSaturatedError(this.maxQueue));
      }
    });
  }

  /** Rejects queued and running checks and stops the workers. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const closedError = (): Error => new VerifierPoolError('EW_AUTH_VERIFIER_CLOSED', 'password verifier closed');
    for (const job of this.queue.splice(0)) job.reject(closedError());
    for (const slot of this.slots) {
      slot.job?.reject(closedError());
      slot.job = undefined;
      clearTimeout(slot.idleTimer);
    }
    await Promise.all(this.slots.map((slot) => slot.worker.terminate()));
  }

  private startWorker(): Slot {
    const worker = new Worker(this.workerUrl);
    const slot: Slot = { worker, job: undefined, lastError: undefined, idleTimer: undefined, retired: false };
    worker.on('message', (result: VerifyResultMessage) => this.onResult(slot, result));
    worker.on('error', (error: Error) => {
      slot.lastError = error;
    });
    worker.on('exit', (exitCode: number) => this.onExit(slot, exitCode));
    // Idle workers must not keep the process alive; a worker is ref'd only
    // while it holds a job, so an awaited check is never cut short by exit.
    // After the listeners: adding a 'message' listener refs the worker again
    // (Node 20, found by the idle-exit test).
    worker.unref();
    return slot;
  }

  private dispatch(slot: Slot, job: Job): void {
    clearTimeout(slot.idleTimer);
    slot.idleTimer = undefined;
    slot.job = job;
    slot.worker.ref();
    slot.worker.postMessage(job.message);
  }

  private onResult(slot: Slot, result: VerifyResultMessage): void {
    const job = slot.job;
    if (job === undefined || job.message.id !== result.id) return;
    this.consecutiveCrashes = 0;
    if (result.ok) job.resolve(result.verified);
    else job.reject(new VerifierPoolError('EW_AUTH_VERIFIER_CRASHED', `password check failed in worker: ${result.error}`));
    this.release(slot);
  }

  private release(slot: Slot): void {
    slot.job = undefined;
    const next = this.queue.shift();
    if (next !== undefined) {
      this.dispatch(slot, next);
      return;
    }
    slot.worker.unref();
    slot.idleTimer = setTimeout(() => this.retire(slot), this.idleMs);
    slot.idleTimer.unref();
  }

  private retire(slot: Slot): void {
    if (slot.job !== undefined) return;
    slot.retired = true;
    this.forget(slot);
    void slot.worker.terminate();
  }

  private forget(slot: Slot): void {
    const index = this.slots.indexOf(slot);
    if (index >= 0) this.slots.splice(index, 1);
  }

  private onExit(slot: Slot, exitCode: number): void {
    if (this.closed || slot.retired) return;
    const reason = slot.lastError?.message ?? `exit code ${exitCode}`;
    slot.job?.reject(new VerifierPoolError('EW_AUTH_VERIFIER_CRASHED', `password verifier worker died: ${reason}`));
    slot.job = undefined;
    this.consecutiveCrashes++;
    if (this.consecutiveCrashes >= MAX_CONSECUTIVE_CRASHES) {
      this.brokenBecause = reason;
      for (const job of this.queue.splice(0)) job.reject(this.brokenError());
      return;
    }
    // Its replacement starts now only if checks are waiting; otherwise when one comes.
    this.forget(slot);
    const next = this.queue.shift();
    if (next !== undefined) {
      const replacement = this.startWorker();
      this.slots.push(replacement);
      this.dispatch(replacement, next);
    }
  }

  private brokenError(): VerifierPoolError {
    return new VerifierPoolError(
      'EW_AUTH_VERIFIER_BROKEN',
      `password verifier workers keep dying (${this.workerUrl.href}): ${this.brokenBecause ?? 'unknown'}`,
    );
  }
}
