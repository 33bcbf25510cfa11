// Capped exponential backoff shared by every retry loop in the mirror
// (source watch, destination writes, index records): 100 ms → 5 s.
import { setTimeout as delay } from 'node:timers/promises';

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
