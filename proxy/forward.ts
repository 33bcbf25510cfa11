// Streaming a decided request to etcd and its answer back, never buffered:
// the order of requests on a connection, the upstream request, watch headers
// flushed at registration, abort when the client goes away, and failures
// turned into etcd-style answers.
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { AccessRecord } from './access-log.js';
import { BodyTooLargeError } from './body-limit.js';
import { payloadTooLargeError, upstreamTimeoutError, upstreamUnavailableError } from './errors.js';
import type { ProxyMetrics } from './metrics.js';
import { isReadMethod, type EtcdRequest } from './request.js';
import { writeProxyError } from './respond.js';
import type { Runtime } from './runtime.js';
import { formatAge, replicaAgeHeader } from './staleness.js';
import { classifyUpstreamError, clientResponseHeaders, upstreamRequestHeaders, type UpstreamExchange, type UpstreamSink } from './upstream.js';
import type { OpenWatches } from './watch.js';

/**
 * Node hands pipelined requests on one connection to us all at once (only
 * the answers are queued in order); etcd behind Go's server runs them one
 * after the other. Keep that order, or a pipelined PUT then GET (or two PUTs
 * to one key) could reach etcd swapped: seen in the pipelining test. The
 * place in line is taken when a request arrives, not when it is decided: a
 * quick refusal or GET decided before the authenticated PUT ahead of it
 * would otherwise wait for its own answer, which Node holds back until the
 * PUT's is sent. Shared by v2 and the v3 gateway.
 */
export class ConnectionOrder {
  /** The last request to arrive on each client connection. */
  private readonly lastOnConnection = new WeakMap<object, InLine>();

  /** Takes the request's place in line; resolves when every earlier request on its connection has been answered. */
  enter(incoming: IncomingMessage, client: ServerResponse): Promise<void> {
    const previous = this.lastOnConnection.get(incoming.socket);
    const entry: InLine = { answered: false, next: undefined };
    this.lastOnConnection.set(incoming.socket, entry);
    client.once('close', () => {
      entry.answered = true;
      entry.next?.();
    });
    // Pipelining is rare: a promise is made only for a request that really waits.
    if (previous === undefined || previous.answered) return answered;
    return new Promise((resolve) => {
      previous.next = resolve;
    });
  }
}

interface InLine {
  answered: boolean;
  /** Lets the request after it go. */
  next: (() => void) | undefined;
}

const answered = Promise.resolve();

export interface ForwardDependencies {
  readonly metrics: ProxyMetrics;
  readonly watches: OpenWatches;
  /** Seconds behind the primary when this proxy follows heartbeats, added to read responses. */
  readonly replicaAge: () => number | undefined;
}

export interface DecidedRequest {
  readonly incoming: IncomingMessage;
  readonly client: ServerResponse;
  readonly etcd: EtcdRequest;
  readonly runtime: Runtime;
  readonly access: AccessRecord;
  /** The request body, already wrapped in the size limit; null when there is none. */
  readonly body: Readable | null;
  /** Resolves when the requests before it on its connection are answered (ConnectionOrder). */
  readonly turn: Promise<void>;
}

export class Forwarder {
  constructor(private readonly deps: ForwardDependencies) {}

  async forward(decided: DecidedRequest): Promise<void> {
    const { incoming, client, etcd, runtime, access, body, turn } = decided;
    const relay = new Relay(decided, this.deps);
    // One listener for everything the request's end means here.
    client.once('close', () => relay.clientClosed());
    await turn;
    if (relay.clientGone) return;
    const watch = etcd.kind === 'keys' && etcd.watch;
    relay.exchange = runtime.upstream.exchange({
      method: etcd.method,
      path: etcd.upstreamPath + (etcd.query === '' ? '' : '?' + etcd.query),
      headers: upstreamRequestHeaders(incoming.headers, access.remote),
      body,
      watch,
    }, relay);
  }
}

/** One request's answer, from etcd to its client: written as it arrives, paused while the client's socket is full. */
class Relay implements UpstreamSink {
  exchange: UpstreamExchange | undefined;
  clientGone = false;
  private started = false;
  private watching = false;
  private readonly client: ServerResponse;
  private readonly access: AccessRecord;

  constructor(
    private readonly request: DecidedRequest,
    private readonly deps: ForwardDependencies,
  ) {
    this.client = request.client;
    this.access = request.access;
  }

  clientClosed(): void {
    if (this.watching) this.deps.metrics.openWatches.dec();
    if (this.client.writableFinished) return;
    // The client left (or shutdown cut its watch): free the upstream socket now.
    this.clientGone = true;
    this.exchange?.abort();
  }

  start(statusCode: number, upstreamHeaders: IncomingHttpHeaders): void {
    const { client, etcd } = this.request;
    this.started = true;
    const headers = clientResponseHeaders(upstreamHeaders);
    const age = isReadMethod(etcd.method) ? this.deps.replicaAge() : undefined;
    if (age !== undefined) headers[replicaAgeHeader] = formatAge(age);
    client.writeHead(statusCode, headers);
    if (etcd.kind === 'keys' && etcd.watch) {
      // etcd sends a watch's headers (X-Etcd-Index) at registration; pass them on now, not with the first event.
      client.flushHeaders();
      this.watching = true;
      this.deps.watches.add(client, this.access);
      this.deps.metrics.openWatches.inc();
    }
  }

  data(chunk: Buffer): boolean {
    this.access.bytes += chunk.length;
    if (this.client.write(chunk)) return true;
    this.client.once('drain', () => this.exchange?.resume());
    return false;
  }

  end(): void {
    this.client.end();
  }

  fail(error: Error): void {
    // Aborted by the client, or cut by our own shutdown: not an upstream failure.
    if (this.clientGone || this.client.writableEnded || this.client.destroyed) return;
    const { access, client, runtime } = this.request;
    if (error instanceof BodyTooLargeError) {
      access.decision = 'bad-request';
      access.bytes = writeProxyError(client, payloadTooLargeError(error.limitBytes), runtime.upstream.clusterId);
      return;
    }
    const kind = classifyUpstreamError(error);
    this.deps.metrics.upstreamErrors.inc({ kind });
    if (this.started) {
      access.reason = `upstream failed mid-response: ${error.message}`;
      client.destroy();
      return;
    }
    access.reason = `upstream ${kind}: ${runtime.upstream.origin.origin}: ${error.message}`;
    access.bytes = writeProxyError(client, kind === 'timeout' ? upstreamTimeoutError() : upstreamUnavailableError(), runtime.upstream.clusterId);
  }
}
