// Capped exponential backoff shared by every retry loop in the mirror
// (source watch, destination writes, index records): 100 ms → 5 s.
import { setTimeout as delay } from 'node:timers/promises';
import type { MirrorLog } from './log.js';
import { describeError, isTransient } from './etcd/client.js';
import { certificateOf } from './etcd/tls.js';

export class MirrorStoppedError extends Error {
  readonly code = 'ETCD_WARDEN_STOPPED';
  constructor() {
    super('mirror is stopping');
  }
}

export class Backoff {
  private current: number;
  constructor(
    private readonly initialMs = 100,
    private readonly maxMs = 5_000,
  ) {
    this.current = initialMs;
  }
  reset(): void {
    this.current = this.initialMs;
  }
  /** Sleeps for the current delay and doubles it; throws MirrorStoppedError on stop. */
  async wait(signal: AbortSignal): Promise<number> {
    const ms = this.current;
    this.current = Math.min(this.current * 2, this.maxMs);
    try {
      await delay(ms, undefined, { signal });
    } catch {
      throw new MirrorStoppedError();
    }
    return ms;
  }
}

/** Retries `work` on transient errors (isTransient) until it works or `stopping` aborts. */
export async function withRetry<T>(what: string, work: () => Promise<T>, stopping: AbortSignal, log: MirrorLog, context: Record<string, unknown> = {}): Promise<T> {
  const backoff = new Backoff();
  for (;;) {
    if (stopping.aborted) throw new MirrorStoppedError();
    try {
      return await work();
    } catch (error) {
      if (!isTransient(error)) throw error;
      logRetry(log, error, context, `${what} failed, retrying`);
      await backoff.wait(stopping);
    }
  }
}

/**
 * A retried failure's log line. A certificate failure is logged once per
 * change of state, at error, by the client's observer (main.ts): its retries
 * go to debug, so a wrong CA file does not fill the journal every backoff.
 */
export function logRetry(log: MirrorLog, error: unknown, fields: Record<string, unknown>, message: string): void {
  log[certificateOf(error) === undefined ? 'warn' : 'debug']({ ...fields, err: describeError(error) }, message);
}
