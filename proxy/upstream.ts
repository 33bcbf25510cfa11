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
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { Client, Pool, errors as undiciErrors, type Dispatcher } from 'undici';

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
  /** Cancels the request while it waits for etcd (watches only; see forward.ts). */
  readonly signal: AbortSignal | undefined;
}

export interface UpstreamResponse {
  readonly statusCode: number;
  readonly headers: Record<string, string | string[] | undefined>;
  /** A Readable with undici's body helpers (`text()`, `dump()`). */
  readonly body: Dispatcher.ResponseData['body'];
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

  async request(request: UpstreamRequest): Promise<UpstreamResponse> {
    const options: Dispatcher.RequestOptions = {
      method: request.method as 'GET',
      path: request.path,
      headers: request.headers,
      body: request.body,
      ...(request.signal === undefined ? {} : { signal: request.signal }),
      headersTimeout: this.requestTimeoutMs,
      bodyTimeout: request.watch ? 0 : this.requestTimeoutMs,
    };
    const response = request.watch ? await this.watchRequest(options) : await this.ordinary.request(options);
    const clusterId = response.headers['x-etcd-cluster-id'];
    if (typeof clusterId === 'string') this.clusterId = clusterId;
    return { statusCode: response.statusCode, headers: response.headers, body: response.body };
  }

  /** A watch on its own connection, closed as soon as the watch ends for any reason. */
  private async watchRequest(options: Dispatcher.RequestOptions): Promise<Dispatcher.ResponseData> {
    const client = new Client(this.origin.origin, this.watchClientOptions);
    this.openWatchClients.add(client);
    const release = (): void => {
      this.openWatchClients.delete(client);
      client.destroy().catch(() => undefined);
    };
    try {
      const response = await client.request(options);
      // 'close' follows both the end of the body and its destruction.
      response.body.once('close', release);
      return response;
    } catch (error) {
      release();
      throw error;
    }
  }

  /** Lets in-flight requests finish; used when a reload points at a new upstream. */
  async close(): Promise<void> {
    await Promise.all([this.ordinary.close(), ...[...this.openWatchClients].map((client) => client.close())]);
  }

  async destroy(): Promise<void> {
    await Promise.all([this.ordinary.destroy(), ...[...this.openWatchClients].map((client) => client.destroy())]);
  }
}

export function classifyUpstreamError(error: unknown): UpstreamFailure {
  if (error instanceof undiciErrors.RequestAbortedError || (error instanceof Error && error.name === 'AbortError')) return 'aborted';
  if (error instanceof undiciErrors.HeadersTimeoutError || error instanceof undiciErrors.BodyTimeoutError) return 'timeout';
  if (error instanceof undiciErrors.ConnectTimeoutError) return 'unreachable';
  const code = (error as { code?: unknown } | undefined)?.code;
  if (code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'EHOSTUNREACH' || code === 'ENOTFOUND' || code === 'UND_ERR_SOCKET' || code === 'EPIPE') {
    return 'unreachable';
  }
  return 'protocol';
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
  const listedInConnection = new Set(
    String(client.connection ?? '')
      .split(',')
      .map((token) => token.trim().toLowerCase())
      .filter((token) => token !== ''),
  );
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(client)) {
    if (value === undefined || requestHeadersDropped.has(name) || listedInConnection.has(name)) continue;
    headers[name] = value;
  }
  const forwarded = client['x-forwarded-for'];
  headers['x-forwarded-for'] = forwarded === undefined ? clientAddress : `${Array.isArray(forwarded) ? forwarded.join(', ') : forwarded}, ${clientAddress}`;
  headers['x-real-ip'] = clientAddress;
  return headers;
}

export function clientResponseHeaders(upstream: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(upstream)) {
    if (value === undefined || responseHeadersDropped.has(name)) continue;
    headers[name] = value;
  }
  return headers;
}
