// Heartbeats for the staleness guard. On the primary (read-write) the proxy
// writes its wall-clock time to a key under the replicated prefix every
// interval, straight to its local etcd; the mirror carries it like any key.
// On a replica (read-only) the proxy follows that key in its local etcd, so
// every read can say how old the replica's view of the primary is. The role
// follows the read-only switch, so a switchover (a SIGHUP) swaps it.
import { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from 'pino';
import { encodePath } from './path.js';
import type { Upstream } from './upstream.js';

export interface HeartbeatSettings {
  /** Written on the primary; a non-hidden key under the replicated prefix. */
  readonly key: string;
  /** Followed on a replica; defaults to `key` (the mirror keeps the layout). */
  readonly followKey: string;
  readonly intervalMs: number;
}

export type HeartbeatRole = 'writer' | 'follower';

export interface HeartbeatObserver {
  written(result: 'success' | 'failure'): void;
}

const retryMs = 1000;

export class Heartbeat {
  private readonly stopping = new AbortController();
  private lastBeatMs: number | undefined;
  private readonly done: Promise<void>;

  constructor(
    readonly role: HeartbeatRole,
    private readonly settings: HeartbeatSettings,
    private readonly upstream: Upstream,
    private readonly log: Logger,
    private readonly observer: HeartbeatObserver,
  ) {
    this.done = role === 'writer' ? this.write() : this.follow();
  }

  /** Seconds since the primary wrote the newest heartbeat seen here; undefined before the first. */
  ageSeconds(now = Date.now()): number | undefined {
    if (this.role !== 'follower' || this.lastBeatMs === undefined) return undefined;
    return Math.max(0, (now - this.lastBeatMs) / 1000);
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.done;
  }

  private async write(): Promise<void> {
    const path = encodePath('/v2/keys' + this.settings.key);
    let failing = false;
    while (!this.stopping.signal.aborted) {
      try {
        const response = await this.upstream.request({
          method: 'PUT',
          path,
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: Readable.from([`value=${encodeURIComponent(new Date().toISOString())}`]),
          watch: false,
          signal: this.stopping.signal,
        });
        await response.body.dump();
        if (response.statusCode >= 300) throw new Error(`etcd answered ${response.statusCode}`);
        this.observer.written('success');
        if (failing) this.log.info({ key: this.settings.key }, 'heartbeat writes recovered');
        failing = false;
      } catch (error) {
        if (this.stopping.signal.aborted) return;
        this.observer.written('failure');
        if (!failing) this.log.warn({ key: this.settings.key, err: (error as Error).message }, 'heartbeat write failed; retrying every interval');
        failing = true;
      }
      await this.sleep(this.settings.intervalMs);
    }
  }

  private async follow(): Promise<void> {
    const keyPath = encodePath('/v2/keys' + this.settings.followKey);
    let waitIndex: number | undefined;
    while (!this.stopping.signal.aborted) {
      try {
        const response = await this.upstream.request({
          method: 'GET',
          path: waitIndex === undefined ? keyPath : `${keyPath}?wait=true&waitIndex=${waitIndex}`,
          headers: {},
          body: null,
          watch: waitIndex !== undefined,
          signal: this.stopping.signal,
        });
        const text = await response.body.text();
        const next = this.absorb(response.statusCode, response.headers['x-etcd-index'], text);
        if (next === 'reread') {
          waitIndex = undefined;
          await this.sleep(retryMs);
        } else {
          waitIndex = next;
        }
      } catch {
        if (this.stopping.signal.aborted) return;
        waitIndex = undefined;
        await this.sleep(retryMs);
      }
    }
  }

  /** Reads one answer about the heartbeat key; returns the next index to wait for. */
  private absorb(status: number, etcdIndex: string | string[] | undefined, text: string): number | 'reread' {
    const body = JSON.parse(text) as { node?: { value?: string; modifiedIndex?: number }; errorCode?: number };
    if (status === 200 && body.node?.modifiedIndex !== undefined) {
      const beat = Date.parse(body.node.value ?? '');
      if (Number.isFinite(beat)) this.lastBeatMs = Math.max(this.lastBeatMs ?? 0, beat);
      return body.node.modifiedIndex + 1;
    }
    // Key not written yet: wait for its creation from the current index.
    if (status === 404 && typeof etcdIndex === 'string') return Number(etcdIndex) + 1;
    // History cleared (errorCode 401) or anything unexpected: read the key again.
    return 'reread';
  }

  /** Waits, or returns early on stop; the abort listener goes away with the timer. */
  private async sleep(ms: number): Promise<void> {
    try {
      await delay(ms, undefined, { signal: this.stopping.signal });
    } catch {
      // stopped
    }
  }
}
