// Heartbeats for the staleness guard. On the primary (read-write) the proxy
// writes its wall-clock time to a key under the replicated prefix every
// interval, straight to its local etcd; the mirror carries it like any key.
// On a replica (read-only) the proxy follows that key in its local etcd, so
// every read can say how old the replica's view of the primary is. The role
// follows the read-only switch, so a switchover (a SIGHUP) swaps it.
import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { HeartbeatSection } from '../config/schema.js';
import { EtcdApiError, EtcdClient } from '../mirror/etcd/client.js';
import { EtcdErrorCode } from '../mirror/etcd/wire-error.js';
import type { UpstreamOptions } from './upstream.js';

export type HeartbeatRole = 'writer' | 'follower';

export interface HeartbeatObserver {
  written(result: 'success' | 'failure'): void;
}

const retryMs = 1000;

export class Heartbeat {
  private readonly stopping = new AbortController();
  /** Its own connection to the local etcd: stopping closes it, which ends a write or a wait at once. */
  private readonly etcd: EtcdClient;
  private lastBeatMs: number | undefined;
  private readonly done: Promise<void>;

  constructor(
    readonly role: HeartbeatRole,
    private readonly settings: HeartbeatSection,
    upstream: UpstreamOptions,
    private readonly log: Logger,
    private readonly observer: HeartbeatObserver,
  ) {
    const tls = upstream.ca === undefined ? {} : { tls: { ca: { path: 'upstreamCa', pem: upstream.ca, setting: 'the config\'s' } } };
    this.etcd = new EtcdClient(upstream.origin.origin, { connections: 1, timeoutMs: upstream.requestTimeoutMs, ...tls });
    this.done = role === 'writer' ? this.write() : this.follow();
  }

  /** Seconds since the primary wrote the newest heartbeat seen here; undefined before the first. */
  ageSeconds(now = Date.now()): number | undefined {
    if (this.role !== 'follower' || this.lastBeatMs === undefined) return undefined;
    return Math.max(0, (now - this.lastBeatMs) / 1000);
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.etcd.close();
    await this.done;
  }

  private async write(): Promise<void> {
    let failing = false;
    while (!this.stopping.signal.aborted) {
      try {
        await this.etcd.put(this.settings.key, { value: new Date().toISOString() });
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
    const key = this.settings.followKey;
    let waitIndex: number | undefined;
    while (!this.stopping.signal.aborted) {
      try {
        const { node } = waitIndex === undefined ? await this.etcd.get(key) : await this.etcd.waitForChange(key, waitIndex);
        const beat = Date.parse(node.value ?? '');
        if (Number.isFinite(beat)) this.lastBeatMs = Math.max(this.lastBeatMs ?? 0, beat);
        waitIndex = node.modifiedIndex + 1;
      } catch (error) {
        if (this.stopping.signal.aborted) return;
        // Key not written yet: wait for its creation from the current index
        // (an etcd error carries the store's index). History cleared (401)
        // or anything unexpected: read the key again.
        if (error instanceof EtcdApiError && error.wire.errorCode === EtcdErrorCode.KeyNotFound) {
          waitIndex = error.wire.index + 1;
        } else {
          waitIndex = undefined;
          await this.sleep(retryMs);
        }
      }
    }
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
