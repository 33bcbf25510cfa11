// The source side: long-poll watches and the consistent snapshot.
//
// Measured etcd 3.4 facts this relies on (research §3):
// - watch response headers, with X-Etcd-Index = store index at registration,
//   are flushed when the watch registers;
// - a waitIndex with a matching event still in history answers at once with
//   the OLDEST such event, and X-Etcd-Index is then the current index, which
//   is >= that event's modifiedIndex; a live event always has
//   modifiedIndex > X-Etcd-Index. So `modifiedIndex <= X-Etcd-Index` tells a
//   history replay from a live event without any timing guess;
// - `stream=true` with a waitIndex found in history delivers that one event
//   and then hangs forever: we detect it by the rule above, abort, and go on
//   with one-event long-polls until a watch registers live;
// - a watch that registered live and then stays quiet proves nothing under
//   the prefix happened in [waitIndex, X-Etcd-Index], so the index may advance
//   to X-Etcd-Index (this is what prevents the 2024-02-28 incident).
import { EtcdApiError, EtcdRequestError, describeError, etcdIndexHeader, keyPath, type EtcdClient } from './etcd/client.js';
import { bodyText, type HttpAnswer } from './etcd/http.js';
import { EtcdErrorCode, isEtcdWireError, type EtcdWireError } from './etcd/wire-error.js';
import { parseEventBody, type EtcdNode, type RawEvent } from './etcd/types.js';

// What a watch delivers, named where the watch is.
export type { RawEvent } from './etcd/types.js';

export class IndexClearedError extends Error {
  readonly code = 'ETCD_WARDEN_INDEX_CLEARED';
  constructor(
    readonly waitIndex: number,
    readonly wire: EtcdWireError,
  ) {
    super(`source history no longer holds index ${waitIndex}: ${wire.message} (${wire.cause}), source index ${wire.index}`);
  }
}

export type WatchMode = 'poll' | 'stream';

export interface WatchHandlers {
  /** Called in order for every event; awaiting it applies backpressure. */
  onEvent(event: RawEvent, index: number): Promise<void>;
  /** Nothing under the prefix happened up to `index`. */
  onQuiet(index: number): Promise<void>;
  /** Any sign of life from the source, with its current index when known. */
  onContact(sourceIndex: number | undefined): void;
}

export interface WatchRound {
  next: number;
  mode: WatchMode;
}

export interface WatchRequestOptions {
  readonly waitIndex: number;
  readonly mode: WatchMode;
  /** Silence after which the watch is renewed (--idle-renew-ms); also its liveness bound. */
  readonly idleMs: number;
  /** Aborted: stop at once. */
  readonly signal: AbortSignal;
  /**
   * Aborted: renew as soon as the watch has proven a quiet stretch (the
   * source cluster's index moved far since this watch's start: cluster-index.ts).
   */
  readonly renew?: AbortSignal;
}

/**
 * A history event is written right after the watch's headers, in the same
 * handler (etcd's handleKeyWatch), so headers followed by this much silence
 * mean the watch registered live. An early renewal waits for it.
 */
export const renewalSettleMs = 50;

/**
 * One watch request from `waitIndex`. Resolves with where to continue, throws
 * IndexClearedError, EtcdApiError or EtcdRequestError (transient).
 */
export async function watchOnce(client: EtcdClient, prefix: string, request: WatchRequestOptions, handlers: WatchHandlers): Promise<WatchRound> {
  const { waitIndex, mode, idleMs, signal } = request;
  const abort = new AbortController();
  const onOuterAbort = (): void => abort.abort();
  signal.addEventListener('abort', onOuterAbort, { once: true });
  let renewing = false;
  let timer: NodeJS.Timeout | undefined;
  let settleTimer: NodeJS.Timeout | undefined;
  /** When the last byte (or the headers) arrived, while no event is half read; undefined otherwise. */
  let quietSince: number | undefined;
  const renewNow = (): void => {
    renewing = true;
    abort.abort();
  };
  // Liveness bound: no byte for idleMs → renew. Covers both the idle renewal
  // and a connection that died without an error reaching us (research §8).
  const arm = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(renewNow, idleMs);
  };
  const renewEarly = (): void => {
    clearTimeout(settleTimer);
    if (request.renew?.aborted !== true || quietSince === undefined) return;
    const wait = quietSince + renewalSettleMs - Date.now();
    if (wait <= 0) renewNow();
    else settleTimer = setTimeout(renewEarly, wait);
  };
  request.renew?.addEventListener('abort', renewEarly, { once: true });
  const quiet = (since: number | undefined): void => {
    quietSince = since;
    renewEarly();
  };
  arm();
  let response: HttpAnswer;
  const path = keyPath(prefix);
  try {
    // Our own idle timer is the bound; the headers timeout is a backstop.
    response = await client.openWatch(prefix, { waitIndex, recursive: true, stream: mode === 'stream', signal: abort.signal, timeoutMs: idleMs + 5_000 });
  } catch (error) {
    clearTimeout(timer);
    signal.removeEventListener('abort', onOuterAbort);
    request.renew?.removeEventListener('abort', renewEarly);
    if (renewing) throw new EtcdRequestError(`watch ${path}: no response headers within ${idleMs} ms`);
    if (error instanceof EtcdRequestError) throw error;
    throw new EtcdRequestError(`watch ${path}: ${describeError(error)}`, { cause: error });
  }
  const headerIndex = etcdIndexHeader(response.headers);
  handlers.onContact(headerIndex);
  let buffered = '';
  let lastIndex: number | undefined;
  let historyHit = false;
  // Errors from our own handlers (a strict stop, a failed pipeline) are not
  // watch trouble and must reach the caller unchanged.
  let handlerFailed = false;
  const deliver = async (event: RawEvent, index: number): Promise<void> => {
    try {
      await handlers.onEvent(event, index);
    } catch (error) {
      handlerFailed = true;
      throw error;
    }
  };
  try {
    if (response.statusCode !== 200) {
      const text = await bodyText(response.body, idleMs);
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
      if (isEtcdWireError(body)) {
        if (body.errorCode === EtcdErrorCode.EventIndexCleared) throw new IndexClearedError(waitIndex, body);
        throw new EtcdApiError(response.statusCode, body);
      }
      throw new EtcdRequestError(`watch ${path}: HTTP ${response.statusCode}: ${text.slice(0, 200)}`);
    }
    arm();
    quiet(Date.now());
    for await (const chunk of response.body) {
      arm();
      quiet(undefined);
      handlers.onContact(undefined);
      buffered += (chunk as Buffer).toString('utf8');
      let newline = buffered.indexOf('\n');
      while (newline >= 0) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        newline = buffered.indexOf('\n');
        if (line === '') continue;
        const event = parseEvent(line, path);
        const index = event.node.modifiedIndex;
        historyHit = headerIndex !== undefined && index <= headerIndex;
        lastIndex = index;
        await deliver(event, index);
        arm();
        if (mode === 'stream' && historyHit) {
          // The stream=true trap: no further event would ever come.
          abort.abort();
          return { next: index + 1, mode: 'poll' };
        }
      }
      if (buffered.trim() === '') quiet(Date.now());
    }
    const rest = buffered.trim();
    if (rest !== '') {
      const event = parseEvent(rest, path);
      const index = event.node.modifiedIndex;
      historyHit = headerIndex !== undefined && index <= headerIndex;
      lastIndex = index;
      await deliver(event, index);
    }
  } catch (error) {
    if (handlerFailed) throw error;
    if (error instanceof IndexClearedError || error instanceof EtcdApiError || error instanceof EtcdRequestError) throw error;
    if (signal.aborted) return { next: lastIndex === undefined ? waitIndex : lastIndex + 1, mode };
    // Our own renewal ended the body (whatever error that surfaced as): fall through.
    if (!renewing) throw new EtcdRequestError(`watch ${path}: ${describeError(error)}`, { cause: error });
  } finally {
    clearTimeout(timer);
    clearTimeout(settleTimer);
    signal.removeEventListener('abort', onOuterAbort);
    request.renew?.removeEventListener('abort', renewEarly);
  }
  if (lastIndex !== undefined) {
    // After a live event we are caught up: stream from here on.
    return { next: lastIndex + 1, mode: historyHit ? 'poll' : 'stream' };
  }
  // No event at all (a renewal, or etcd closed the watch with an empty
  // 200): the watch registered live, so nothing happened up to X-Etcd-Index.
  if (headerIndex !== undefined && headerIndex >= waitIndex) {
    await handlers.onQuiet(headerIndex);
    return { next: headerIndex + 1, mode: 'stream' };
  }
  return { next: waitIndex, mode: 'stream' };
}

function parseEvent(line: string, path: string): RawEvent {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    throw new EtcdRequestError(`watch ${path}: event is not JSON: ${line.slice(0, 200)}`);
  }
  const event = parseEventBody(parsed);
  if (event === undefined || typeof event.node.modifiedIndex !== 'number') {
    throw new EtcdRequestError(`watch ${path}: malformed event: ${line.slice(0, 200)}`);
  }
  return event;
}

/** Recursive, sorted GET of the prefix with the X-Etcd-Index it is consistent with. */
export async function snapshot(client: EtcdClient, prefix: string): Promise<{ root: EtcdNode | undefined; etcdIndex: number }> {
  try {
    const result = await client.get(prefix, { recursive: true, sorted: true, quorum: true });
    return { root: result.node, etcdIndex: result.etcdIndex };
  } catch (error) {
    if (error instanceof EtcdApiError && error.wire.errorCode === EtcdErrorCode.KeyNotFound) {
      return { root: undefined, etcdIndex: error.wire.index };
    }
    throw error;
  }
}
