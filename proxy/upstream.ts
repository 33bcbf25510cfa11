// The connection to the local etcd member. A watch and an ordinary request
// need opposite settings (research §5.1, §5.3):
// - ordinary requests: one pool with finite timeouts, so a wedged etcd cannot
//   pile them up;
// - watches: no body timeout (a watch may idle for hours), no cap on sockets
//   (each open watch pins one; a cap of 128 starved every write), and one
//   undici Client per watch, destroyed with it. In a pool, undici opens a
//   fresh socket to etcd after each aborted request and keeps it idle for its
//   keep-alive timeout: 200 watches dropped by their clients held 200 upstream
//   sockets for another 4.1 s. Reusing a loopback socket saves ~0.1 ms, so
//   nothing is lost by not pooling them.
// Pipelining stays at 1: a watch would head-of-line block whatever was queued
// behind it on its socket.
//
// An answer is handed over as undici's parser delivers it (dispatch() and a
// handler), never through a Readable: undici's request() wraps each answer in
// a stream and a promise, which cost 14-19 µs of CPU per request on loopback
// (50 µs against 64-69 µs per GET, a client alone against a real etcd).
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { Client, Pool, type Dispatcher } from 'undici';

export interface UpstreamOptions {
  readonly origin: URL;
  readonly ca?: Buffer;
  readonly connectTimeoutMs: number;
  /** Bound on headers and body of an ordinary request. */
  readonly requestTimeoutMs: number;
}

export interface UpstreamRequest {
  readonly method: string;
  /** Encoded path and query, built from the parsed request. */
  readonly path: string;
  readonly headers: Record<string, string | string[]>;
  readonly body: Readable | null;
  readonly watch: boolean;
}

/**
 * Where etcd's answer goes as it arrives. `data` returns false to pause etcd
 * until `resume` of the exchange is called (the client's socket is full).
 * Exactly one of `end` and `fail` ends it; `fail` may come before `start`.
 */
export interface UpstreamSink {
  start(statusCode: number, headers: IncomingHttpHeaders): void;
  data(chunk: Buffer): boolean;
  end(): void;
  fail(error: Error): void;
}

/** One request under way: paused by its sink, resumed or abandoned by its caller. */
export interface UpstreamExchange {
  resume(): void;
  /** Stops it wherever it is (the client went away); the sink hears nothing more. */
  abort(): void;
}

/** Why an upstream exchange failed, so the caller can pick 502 or 504 without parsing messages. */
export type UpstreamFailure = 'unreachable' | 'timeout' | 'aborted' | 'protocol';

export class Upstream {
  readonly origin: URL;
  private readonly ordinary: Pool;
  private readonly watchClientOptions: Client.Options;
  private readonly openWatchClients = new Set<Client>();
  private readonly requestTimeoutMs: number;
  /** Last X-Etcd-Cluster-Id seen, added to the proxy's own error answers (python-etcd warns without it). */
  clusterId: string | undefined;

  constructor(options: UpstreamOptions) {
    this.origin = options.origin;
    this.requestTimeoutMs = options.requestTimeoutMs;
    const connect = { timeout: options.connectTimeoutMs, ...(options.ca === undefined ? {} : { ca: options.ca }) };
    this.ordinary = new Pool(options.origin.origin, { connect, pipelining: 1, headersTimeout: options.requestTimeoutMs, bodyTimeout: options.requestTimeoutMs });
    // headersTimeout stays finite: etcd sends a watch's headers at registration.
    this.watchClientOptions = { connect, pipelining: 1, headersTimeout: options.requestTimeoutMs, bodyTimeout: 0 };
  }

  /** Sends the request; etcd's answer goes to `sink` as it arrives. */
  exchange(request: UpstreamRequest, sink: UpstreamSink): UpstreamExchange {
    const options: Dispatcher.DispatchOptions = {
      method: request.method as Dispatcher.HttpMethod,
      path: request.path,
      headers: request.headers,
      body: request.body,
      headersTimeout: this.requestTimeoutMs,
      bodyTimeout: request.watch ? 0 : this.requestTimeoutMs,
    };
    const handler = new SinkHandler(sink, this);
    if (!request.watch) {
      this.ordinary.dispatch(options, handler);
      return handler;
    }
    // A watch on its own connection, closed as soon as the watch ends for any reason.
    const client = new Client(this.origin.origin, this.watchClientOptions);
    this.openWatchClients.add(client);
    handler.finished = () => {
      this.openWatchClients.delete(client);
      client.destroy().catch(() => undefined);
    };
    client.dispatch(options, handler);
    return handler;
  }

  /** Lets in-flight requests finish; used when a reload points at a new upstream. */
  async close(): Promise<void> {
    await Promise.all([this.ordinary.close(), ...[...this.openWatchClients].map((client) => client.close())]);
  }

  async destroy(): Promise<void> {
    await Promise.all([this.ordinary.destroy(), ...[...this.openWatchClients].map((client) => client.destroy())]);
  }
}

/** undici's handler for one exchange, relaying to its sink. */
class SinkHandler implements Dispatcher.DispatchHandler, UpstreamExchange {
  private controller: Dispatcher.DispatchController | undefined;
  private done = false;
  /** Called once the exchange is over for any reason (a watch's own Client is destroyed then). */
  finished: (() => void) | undefined;

  constructor(
    private readonly sink: UpstreamSink,
    private readonly upstream: Upstream,
  ) {}

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    // Abandoned while it waited for a connection.
    if (this.done) controller.abort(new AbandonedError());
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    // etcd sends no 1xx (Expect is not forwarded); undici would hand one here first.
    if (statusCode < 200 || this.done) return;
    const clusterId = headers['x-etcd-cluster-id'];
    if (typeof clusterId === 'string') this.upstream.clusterId = clusterId;
    this.sink.start(statusCode, headers);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.done && !this.sink.data(chunk)) controller.pause();
  }

  onResponseEnd(): void {
    if (this.done) return;
    this.finish();
    this.sink.end();
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    if (this.done) return;
    this.finish();
    this.sink.fail(error);
  }

  resume(): void {
    this.controller?.resume();
  }

  abort(): void {
    if (this.done) return;
    this.finish();
    this.controller?.abort(new AbandonedError());
  }

  private finish(): void {
    this.done = true;
    this.finished?.();
  }
}

/** The reason given to undici when the proxy gives up an exchange (its client left). */
class AbandonedError extends Error {
  readonly code = 'EW_UPSTREAM_ABANDONED';
  constructor() {
    super('the client went away');
    this.name = 'AbandonedError';
  }
}

export function classifyUpstreamError(error: unknown): UpstreamFailure {
  const code = (error as { code?: unknown } | undefined)?.code;
  switch (code) {
    case 'UND_ERR_ABORTED':
    case 'EW_UPSTREAM_ABANDONED':
      return 'aborted';
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return 'timeout';
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'ECONNREFUSED':
    case 'ECONNRESET':
    case 'EHOSTUNREACH':
    case 'ENOTFOUND':
    case 'UND_ERR_SOCKET':
    case 'EPIPE':
      return 'unreachable';
    default:
      return error instanceof Error && error.name === 'AbortError' ? 'aborted' : 'protocol';
  }
}

// Hop-by-hop headers (RFC 9110 §7.6.1) and what the proxy itself decides.
const requestHeadersDropped = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding',
  'upgrade', 'host', 'authorization', 'expect', 'x-real-ip', 'http2-settings',
]);
const responseHeadersDropped = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/**
 * Client headers as etcd should see them: no hop-by-hop headers, no
 * credentials (etcd has no auth of its own and must never see a password),
 * X-Forwarded-For appended to and X-Real-IP set, as nginx did.
 */
export function upstreamRequestHeaders(client: IncomingHttpHeaders, clientAddress: string): Record<string, string | string[]> {
  const listedInConnection = client.connection === undefined ? undefined : new Set(
    client.connection
      .split(',')
      .map((token) => token.trim().toLowerCase())
      .filter((token) => token !== ''),
  );
  const headers: Record<string, string | string[]> = {};
  for (const name in client) {
    const value = client[name];
    if (value === undefined || requestHeadersDropped.has(name) || listedInConnection?.has(name) === true) continue;
    headers[name] = value;
  }
  const forwarded = client['x-forwarded-for'];
  headers['x-forwarded-for'] = forwarded === undefined ? clientAddress : `${Array.isArray(forwarded) ? forwarded.join(', ') : forwarded}, ${clientAddress}`;
  headers['x-real-ip'] = clientAddress;
  return headers;
}

export function clientResponseHeaders(upstream: IncomingHttpHeaders): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  for (const name in upstream) {
    const value = upstream[name];
    if (value === undefined || responseHeadersDropped.has(name)) continue;
    headers[name] = value;
  }
  return headers;
}
