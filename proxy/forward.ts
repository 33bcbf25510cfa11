// Streaming a decided request to etcd and its answer back, never buffered:
// the order of requests on a connection, the upstream request, watch headers
// flushed at registration, abort when the client goes away, and failures
// turned into etcd-style answers.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { AccessRecord } from './access-log.js';
import { BodyTooLargeError } from './body-limit.js';
import { payloadTooLargeError, upstreamTimeoutError, upstreamUnavailableError } from './errors.js';
import type { ProxyMetrics } from './metrics.js';
import { isReadMethod, type EtcdRequest } from './request.js';
import { writeProxyError } from './respond.js';
import type { Runtime } from './runtime.js';
import { formatAge, replicaAgeHeader } from './staleness.js';
import { classifyUpstreamError, clientResponseHeaders, upstreamRequestHeaders, type UpstreamResponse } from './upstream.js';
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
  /** The last request's completion, per client connection. */
  private readonly previousOnConnection = new WeakMap<object, Promise<void>>();

  /** Takes the request's place in line; resolves when every earlier request on its connection has been answered. */
  enter(incoming: IncomingMessage, client: ServerResponse): Promise<void> {
    const previous = this.previousOnConnection.get(incoming.socket) ?? Promise.resolve();
    this.previousOnConnection.set(incoming.socket, new Promise<void>((resolve) => client.once('close', () => resolve())));
    return previous;
  }
}

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

  async forward({ incoming, client, etcd, runtime, access, body, turn }: DecidedRequest): Promise<void> {
    const watch = etcd.kind === 'keys' && etcd.watch;
    // Only a watch can wait long enough for its client to leave before etcd
    // answers; an AbortSignal per ordinary request cost ~3% of a GET's CPU.
    const aborter = watch ? new AbortController() : undefined;
    let clientGone = false;
    client.once('close', () => {
      if (client.writableFinished) return;
      clientGone = true;
      aborter?.abort();
    });
    await turn;
    if (clientGone) return;

    let response: UpstreamResponse;
    try {
      response = await runtime.upstream.request({
        method: etcd.method,
        path: etcd.upstreamPath + (etcd.query === '' ? '' : '?' + etcd.query),
        headers: upstreamRequestHeaders(incoming.headers, access.remote),
        body,
        watch,
        signal: aborter?.signal,
      });
    } catch (error) {
      if (clientGone) return;
      if (error instanceof BodyTooLargeError) {
        access.decision = 'bad-request';
        access.bytes = writeProxyError(client, payloadTooLargeError(error.limitBytes), runtime.upstream.clusterId);
        return;
      }
      const kind = classifyUpstreamError(error);
      this.deps.metrics.upstreamErrors.inc({ kind });
      access.reason = `upstream ${kind}: ${runtime.upstream.origin.origin}: ${(error as Error).message}`;
      access.bytes = writeProxyError(client, kind === 'timeout' ? upstreamTimeoutError() : upstreamUnavailableError(), runtime.upstream.clusterId);
      return;
    }
    if (clientGone) {
      // The client left while etcd answered: free the upstream socket now
      // (destroying emits an abort error, which must not go unheard).
      response.body.on('error', () => undefined);
      response.body.destroy();
      return;
    }
    this.relay(response, client, access, () => clientGone, watch, isReadMethod(etcd.method));
  }

  private relay(response: UpstreamResponse, client: ServerResponse, access: AccessRecord, clientGone: () => boolean, watch: boolean, read: boolean): void {
    const upstreamBody = response.body;
    const headers = clientResponseHeaders(response.headers);
    const age = read ? this.deps.replicaAge() : undefined;
    if (age !== undefined) headers[replicaAgeHeader] = formatAge(age);
    client.writeHead(response.statusCode, headers);
    if (watch) {
      // etcd sends a watch's headers (X-Etcd-Index) at registration; pass them on now, not with the first event.
      client.flushHeaders();
      this.deps.watches.add(client, upstreamBody, access);
      this.deps.metrics.openWatches.inc();
      client.once('close', () => this.deps.metrics.openWatches.dec());
    }
    upstreamBody.on('data', (chunk: Buffer) => {
      access.bytes += chunk.length;
    });
    upstreamBody.on('error', (error) => {
      // Aborted by the client, or cut by our own shutdown: not an upstream failure.
      if (clientGone() || client.writableEnded || client.destroyed) return;
      this.deps.metrics.upstreamErrors.inc({ kind: classifyUpstreamError(error) });
      access.reason = `upstream failed mid-response: ${error.message}`;
      client.destroy();
    });
    client.once('close', () => {
      if (!upstreamBody.readableEnded) upstreamBody.destroy();
    });
    upstreamBody.pipe(client);
  }
}
