// Load and observation for the v3 mirror bench. Every write puts a number n
// (increasing) under the source prefix; a watch on the destination sees each
// n arrive, so each event's lag is the time between its write's answer and
// its arrival on the destination, whatever mirror carries it.
import { performance } from 'node:perf_hooks';
import type { Pool } from 'undici';
import type { EtcdV3Client, WatchStream } from '../../../mirror/etcd/v3/client.js';
import { keyFromText, prefixInterval } from '../../../mirror/etcd/v3/keys.js';

export type Writer = (key: string, value: string) => Promise<void>;

export function v3Writer(client: EtcdV3Client): Writer {
  return async (key, value) => {
    await client.txn({ compare: [], success: [{ put: { key: keyFromText(key), value: Buffer.from(value) } }], failure: [] });
  };
}

export function v2Writer(pool: Pool): Writer {
  return async (key, value) => {
    const response = await pool.request({ method: 'PUT', path: `/v2/keys${key}`, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `value=${value}` });
    await response.body.dump();
    if (response.statusCode >= 300) throw new Error(`v2 PUT ${key}: HTTP ${response.statusCode}`);
  };
}

/** When each n was acknowledged by the source. */
export class WriteLog {
  readonly acknowledged = new Map<number, number>();
  next = 0;
}

const keysUnderPrefix = 5_000;

/** Writes at `rate` per second for `seconds` (at most 128 in flight); returns the n written. */
export async function pacedWrites(write: Writer, prefix: string, log: WriteLog, rate: number, seconds: number): Promise<{ first: number; last: number; seconds: number }> {
  const first = log.next;
  const started = performance.now();
  let issued = 0;
  let inFlight = 0;
  while (performance.now() - started < seconds * 1000) {
    const due = Math.floor(((performance.now() - started) / 1000) * rate);
    while (issued < due && inFlight < 128) {
      issued += 1;
      inFlight += 1;
      const n = log.next++;
      write(`${prefix}k${n % keysUnderPrefix}`, String(n)).then(
        () => {
          log.acknowledged.set(n, performance.now());
          inFlight -= 1;
        },
        () => {
          inFlight -= 1;
        },
      );
    }
    // The source could not take more: what was due is skipped, not queued.
    if (issued < due) issued = due;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  while (inFlight > 0) await new Promise((resolve) => setTimeout(resolve, 5));
  return { first, last: log.next - 1, seconds: (performance.now() - started) / 1000 };
}

/** `count` writes as fast as 64 connections take them. */
export async function burst(write: Writer, prefix: string, log: WriteLog, count: number): Promise<{ first: number; last: number; endedAt: number }> {
  const first = log.next;
  const last = first + count - 1;
  log.next += count;
  let cursor = first;
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      for (let n = cursor++; n <= last; n = cursor++) {
        await write(`${prefix}k${n % keysUnderPrefix}`, String(n));
        log.acknowledged.set(n, performance.now());
      }
    }),
  );
  return { first, last, endedAt: performance.now() };
}

/** Watches the destination prefix and notes when each n arrives (and how often). */
export class Arrivals {
  readonly seen = new Map<number, number>();
  /** Arrivals of an n already seen: a mirror applying an event twice, or copying a key again. */
  repeats = 0;
  /** Every put that arrived, numbered or not. */
  total = 0;
  private stream: WatchStream | undefined;

  constructor(
    private readonly client: EtcdV3Client,
    private readonly prefix: string,
  ) {}

  async start(): Promise<void> {
    const interval = prefixInterval(keyFromText(this.prefix));
    this.stream = await this.client.watch({ key: interval.start, end: interval.end, startRevision: 0, prevKv: false, progressNotify: false });
    const stream = this.stream;
    void (async () => {
      for await (const message of stream) {
        if (message.kind !== 'events') continue;
        const now = performance.now();
        for (const event of message.events) {
          if (event.type !== 'put') continue;
          this.total += 1;
          const n = Number(event.kv.value.toString());
          if (!Number.isInteger(n)) continue;
          if (this.seen.has(n)) this.repeats += 1;
          else this.seen.set(n, now);
        }
      }
    })().catch(() => undefined);
  }

  stop(): void {
    this.stream?.close();
  }

  /** Waits until every n in [first, last] that the source acknowledged has arrived; resolves with the time of the last arrival. */
  async caughtUp(log: WriteLog, first: number, last: number, timeoutMs = 120_000): Promise<number | undefined> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      let latest = 0;
      let missing = false;
      for (let n = first; n <= last; n++) {
        if (!log.acknowledged.has(n)) continue;
        const at = this.seen.get(n);
        if (at === undefined) {
          missing = true;
          break;
        }
        latest = Math.max(latest, at);
      }
      if (!missing) return latest;
      if (performance.now() > deadline) return undefined;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Per-event lag (arrival − acknowledgement, 0 when the mirror was faster than the answer) over [first, last]. */
  lags(log: WriteLog, first: number, last: number): { count: number; p99: number; max: number } {
    const lags: number[] = [];
    for (let n = first; n <= last; n++) {
      const written = log.acknowledged.get(n);
      const arrived = this.seen.get(n);
      if (written !== undefined && arrived !== undefined) lags.push(Math.max(0, arrived - written));
    }
    lags.sort((a, b) => a - b);
    return { count: lags.length, p99: lags[Math.floor(lags.length * 0.99)] ?? 0, max: lags[lags.length - 1] ?? 0 };
  }
}
