// Follows how far the source cluster's index has moved beyond the mirror's
// anchor (the index a new prefix watch would start from), so a quiet prefix
// is re-anchored before writes elsewhere push that index out of etcd's
// 1000-event history. The 2024-02-28 incident: 1,010 writes outside
// /conftool in 1.1 s, faster than any time-based renewal.
//
// How: one long-poll on `/` (recursive) from anchor + everyEvents. etcd
// registers a watch for a future index and answers it with the first event
// at or past that index anywhere in the cluster, so the source answers once
// per few hundred events while busy and never while quiet: no polling. Its
// headers carry X-Etcd-Index, and it is renewed every idle period like the
// prefix watch, which also catches what a recursive watch does not see
// (hidden keys, TTL refreshes) at that pace. A refusal (a proxy's readAcls
// may forbid reading `/`) is logged once; the time renewal then stays alone.
import type { MirrorLog } from './log.js';
import { EtcdApiError, describeError, etcdIndexHeader, isTransient, type EtcdClient } from './etcd/client.js';
import { bodyText } from './etcd/http.js';
import { parseEventBody } from './etcd/types.js';
import { EtcdErrorCode, isEtcdWireError } from './etcd/wire-error.js';
import { Backoff, MirrorStoppedError } from './retry.js';

export interface ClusterIndexOptions {
  /** Re-anchor once the cluster is this many events past the anchor ("a few hundred": history holds 1,000). */
  readonly everyEvents: number;
  /** The follower's own long-poll is renewed after this much silence (--idle-renew-ms). */
  readonly idleMs: number;
  readonly log: MirrorLog;
  /** The index everything up to which is known: a new prefix watch starts one past it. */
  anchor(): number;
}

/** Our default distance: at 5,000 writes/s the re-anchored watch still starts 500+ events inside the history. */
export const reanchorEveryEvents = 300;

export class ClusterIndexFollower {
  /** The newest source cluster index seen. */
  private known = 0;
  private renewal = new AbortController();
  private wake: (() => void) | undefined;

  constructor(
    private readonly src: EtcdClient,
    private readonly options: ClusterIndexOptions,
  ) {}

  /** The signal for the next prefix watch: aborted when it should re-anchor (already, if the cluster is far ahead). */
  nextRound(): AbortSignal {
    this.renewal = new AbortController();
    if (this.tooFar()) this.renewal.abort();
    return this.renewal.signal;
  }

  /** The anchor moved (an event or a quiet proof): the follower re-arms from there. */
  anchorMoved(): void {
    this.wake?.();
  }

  /** Any source answer's X-Etcd-Index. */
  noteIndex(index: number | undefined): void {
    if (index === undefined || index <= this.known) return;
    this.known = index;
    if (this.tooFar()) this.renewal.abort();
  }

  /** Follows until `signal` aborts or the source refuses the watch on `/`. */
  async run(signal: AbortSignal): Promise<void> {
    const backoff = new Backoff();
    let toldFor: number | undefined;
    while (!signal.aborted) {
      const anchor = this.options.anchor();
      if (toldFor === anchor) {
        // Told already: wait for the mirror to re-anchor rather than ask the source again.
        await this.anchorChange(signal);
        continue;
      }
      try {
        const index = await this.indexAtLeast(anchor + this.options.everyEvents, signal);
        this.noteIndex(index);
        if (this.tooFar()) toldFor = anchor;
        // An answer that said nothing (no index at all) is not asked again at once.
        if (index === undefined) await backoff.wait(signal);
        else backoff.reset();
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof EtcdApiError && !isTransient(error)) {
          this.options.log.warn({ err: describeError(error) }, 'cannot follow the source cluster\'s index (a recursive watch on / was refused): a quiet prefix is re-anchored by --idle-renew-ms only');
          return;
        }
        this.options.log.debug({ err: describeError(error) }, 'following the source cluster index failed, retrying');
        await backoff.wait(signal).catch((stopped: unknown) => {
          if (!(stopped instanceof MirrorStoppedError)) throw stopped;
        });
      }
    }
  }

  private tooFar(): boolean {
    return this.known - this.options.anchor() >= this.options.everyEvents;
  }

  /**
   * One long-poll on `/` from `waitIndex`: the index of the first event at or
   * past it, or (renewed after the idle period, or history already gone) the
   * cluster's current index.
   */
  private async indexAtLeast(waitIndex: number, signal: AbortSignal): Promise<number | undefined> {
    const abort = new AbortController();
    const stop = (): void => abort.abort();
    signal.addEventListener('abort', stop, { once: true });
    const renewal = setTimeout(stop, this.options.idleMs);
    let headerIndex: number | undefined;
    try {
      const answer = await this.src.openWatch('/', { waitIndex, recursive: true, signal: abort.signal, timeoutMs: this.options.idleMs + 5_000 });
      headerIndex = etcdIndexHeader(answer.headers);
      this.noteIndex(headerIndex);
      const body: unknown = JSON.parse((await bodyText(answer.body, 0)) || 'null');
      if (isEtcdWireError(body)) {
        if (body.errorCode === EtcdErrorCode.EventIndexCleared) return body.index;
        throw new EtcdApiError(answer.statusCode, body);
      }
      return parseEventBody(body)?.node.modifiedIndex ?? headerIndex;
    } catch (error) {
      // The idle renewal: the headers already said where the cluster was.
      if (abort.signal.aborted && !signal.aborted && headerIndex !== undefined) return headerIndex;
      throw error;
    } finally {
      clearTimeout(renewal);
      signal.removeEventListener('abort', stop);
    }
  }

  private anchorChange(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        this.wake = undefined;
        signal.removeEventListener('abort', done);
        resolve();
      };
      this.wake = done;
      signal.addEventListener('abort', done, { once: true });
    });
  }
}
