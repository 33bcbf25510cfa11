// The wiring, in one place: one port (port.ts) for both protocols; on its
// HTTP/1.1 side one request handler hands what it reads off the request to
// decide.ts (the whole decision, in order) and writes the answer, or hands an
// allowed request to forward.ts, which streams it to etcd, or a v3 gateway
// request to proxy/v3/gateway-forward.ts; its HTTP/2 side is the v3 gRPC
// proxy (proxy/v3/grpc-proxy.ts). Reading this file and decide.ts tells the
// whole request path.
//
// node:http directly, not fastify: a pass-through proxy used none of its
// routing, schemas or reply helpers, and its request and reply objects,
// hooks and router cost 12 µs of CPU per GET (171 → 160 µs, median of 3 runs).
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { LoadedConfig } from '../config/load.js';
import { AccessRecorder, unparsed } from './access-log.js';
import type { FailedLoginLimit } from './auth/failure-limiter.js';
import type { CredentialVerifier } from './auth/verifier.js';
import { limitBody } from './body-limit.js';
import { ClientRegistry } from './clients.js';
import { decide, type Decision, type DecisionServices, type InboundRequest } from './decide.js';
import { serviceUnavailableError } from './errors.js';
import { ConnectionOrder, Forwarder } from './forward.js';
import { Heartbeat } from './heartbeat.js';
import { headerCount } from './limits.js';
import { answerClientError, ConnectionCap, serverLimitOptions } from './listener.js';
import type { ProxyMetrics } from './metrics.js';
import { ClientPort } from './port.js';
import { writeProxyError } from './respond.js';
import { compileRuntime, runtimeChange, type Runtime } from './runtime.js';
import { maxStalenessHeader } from './staleness.js';
import type { Upstream } from './upstream.js';
import { V3Service, type SharedTokens } from './v3/service.js';
import { OpenWatches } from './watch.js';
import { EtcdGrpcError, GrpcCode } from '../mirror/etcd/v3/errors.js';

export interface ProxyDependencies {
  readonly log: Logger;
  readonly metrics: ProxyMetrics;
  readonly verifier: CredentialVerifier;
  readonly limiter: FailedLoginLimit;
  /** What several proxy processes on one port share (proxy/cluster/); undefined for a single process. */
  readonly cluster?: ClusterShare;
}

/** A cluster worker's part of what its primary holds for all of them. */
export interface ClusterShare {
  readonly tokens: SharedTokens;
  readonly ticketKeys: Buffer;
}

export class ProxyServer {
  private readonly http1: HttpServer;
  private currentRuntime: Runtime;
  private readonly watches = new OpenWatches();
  private readonly connectionCap = new ConnectionCap(() => this.currentRuntime.limits.maxConnections);
  private readonly order = new ConnectionOrder();
  private readonly forwarder: Forwarder;
  private readonly services: DecisionServices;
  readonly clients = new ClientRegistry();
  private readonly accessRecords: AccessRecorder;
  private heartbeat: Heartbeat | undefined;
  private readonly v3: V3Service;
  private readonly port: ClientPort;
  /** Set at shutdown: requests still arriving get `Connection: close`. */
  private closing = false;

  constructor(
    loaded: LoadedConfig,
    private readonly deps: ProxyDependencies,
  ) {
    const runtime = compileRuntime(loaded);
    this.currentRuntime = runtime;
    this.accessRecords = new AccessRecorder({ log: deps.log, metrics: deps.metrics, clients: this.clients });
    this.forwarder = new Forwarder({ metrics: deps.metrics, watches: this.watches, replicaAge: () => this.replica()?.ageSeconds() });
    this.services = { verifier: deps.verifier, limiter: deps.limiter, replica: () => this.replica() };
    this.v3 = new V3Service({
      ...deps, runtime: () => this.currentRuntime, clients: this.clients,
      connectionRefusal: (stream) => this.overConnectionCap(stream.session?.socket),
      ...(deps.cluster === undefined ? {} : { tokens: deps.cluster.tokens }),
    });
    const { timeouts, limits, tls } = runtime;
    // Plain HTTP/1.1 always: TLS, when on, is the port's (port.ts), in front of both protocols.
    // Header size and the timeout checking tick are fixed when the server is made.
    this.http1 = createServer(serverLimitOptions(limits, timeouts), (request, response) => this.handle(request, response));
    // A watch is an idle connection for hours: no socket inactivity timeout.
    this.http1.timeout = 0;
    // Bounds receiving the request only; a watch's request is complete at once.
    this.http1.requestTimeout = timeouts.clientRequestMs;
    this.http1.headersTimeout = timeouts.clientHeadersMs;
    this.http1.keepAliveTimeout = timeouts.clientKeepAliveMs;
    // Keep every header field, so too many is refused (431) rather than silently cut at Node's 2,000.
    this.http1.maxHeadersCount = 0;
    this.http1.on('clientError', (error: Error & { code?: string }, socket: Socket) => answerClientError(error, socket, this.currentRuntime.limits));
    this.deps.metrics.readOnly.set(runtime.readOnly ? 1 : 0);
    if (tls !== undefined) this.deps.metrics.certificateExpiry.set(tls.notAfter.getTime() / 1000);
    this.deps.metrics.followReplicaAge(() => this.heartbeat?.ageSeconds());
    this.heartbeat = this.startHeartbeat(runtime);
    this.port = new ClientPort({
      tls, timeouts, limits, http1: this.http1, grpc: this.v3.grpc,
      ...(deps.cluster === undefined ? {} : { ticketKeys: deps.cluster.ticketKeys }),
      // Before TLS and either protocol: the count starts at accept.
      accepted: (socket) => {
        this.connectionCap.admit(socket);
        this.clients.trackConnection(socket);
      },
    });
  }

  /** What requests starting now are decided and forwarded with. */
  get runtime(): Runtime {
    return this.currentRuntime;
  }

  /** v2 watches and v3 Watch streams. */
  get openWatches(): number {
    return this.watches.size + this.v3.calls.openWatchStreams;
  }

  get upstream(): Upstream {
    return this.currentRuntime.upstream;
  }

  listen(): Promise<string> {
    return this.port.listen(this.currentRuntime.listen);
  }

  /** Swaps in a new config; open connections and watches keep going. Returns what waits for a restart. */
  reload(loaded: LoadedConfig): readonly string[] {
    const previous = this.currentRuntime;
    const next = compileRuntime(loaded, previous);
    const change = runtimeChange(previous, next);
    if (change.certificate !== undefined) {
      this.port.setCertificate(change.certificate);
      this.deps.metrics.certificateExpiry.set(change.certificate.notAfter.getTime() / 1000);
    }
    this.currentRuntime = next;
    if (change.heartbeatChanged) {
      void this.heartbeat?.stop();
      this.heartbeat = this.startHeartbeat(next);
    }
    if (change.upstreamReplaced) void previous.upstream.close();
    if (change.v3UpstreamReplaced) previous.v3.upstream.closeWhenIdle();
    this.deps.verifier.replaceTable(next.users);
    this.deps.metrics.readOnly.set(next.readOnly ? 1 : 0);
    return change.atNextRestart;
  }

  /**
   * Stops accepting, ends open watches and v3 streams as a stopping etcd
   * does, gives ordinary requests and unary calls a grace period.
   */
  async close(): Promise<void> {
    await this.heartbeat?.stop();
    const allClosed = this.port.stopAccepting();
    this.closing = true;
    // Closes idle HTTP/1.1 connections (the server itself never listened: its callback says so, at once).
    const closing = new Promise<void>((resolve) => this.http1.close(() => resolve()));
    const stopping = 'the proxy is stopping, as a stopping etcd ends it';
    const watchesClosed = this.watches.cutAll();
    this.v3.cutStreams(stopping);
    this.port.closeSessions();
    const grace = this.currentRuntime.timeouts.shutdownGraceMs;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), grace);
    });
    const result = await Promise.race([Promise.all([allClosed, closing, watchesClosed]).then(() => 'closed' as const), timedOut]);
    clearTimeout(timer);
    if (result === 'timeout') {
      this.deps.log.warn({ graceMs: grace }, 'requests still running after the shutdown grace period; closing their connections');
      this.http1.closeAllConnections();
      this.port.destroySessions();
      await allClosed;
    }
    await this.currentRuntime.upstream.destroy();
    this.currentRuntime.v3.upstream.close();
  }

  /** A v3 token use seen by another proxy process (proxy/cluster/). */
  learnTokenUse(nonce: string, at: number): void {
    this.v3.tokens.learnUse(nonce, at);
  }

  /**
   * The primary (read-write) writes heartbeats; a replica (read-only)
   * follows them. Among several proxy processes, their primary writes
   * (cluster/primary.ts) and each of them follows.
   */
  private startHeartbeat(runtime: Runtime): Heartbeat | undefined {
    if (runtime.heartbeat === undefined || (!runtime.readOnly && this.deps.cluster !== undefined)) return undefined;
    return new Heartbeat(runtime.readOnly ? 'follower' : 'writer', runtime.heartbeat, runtime.upstreamOptions, this.deps.log, {
      written: (result) => this.deps.metrics.heartbeatWrites.inc({ result }),
    });
  }

  /** The heartbeat this proxy follows, when it is a replica. */
  private replica(): Heartbeat | undefined {
    return this.heartbeat?.role === 'follower' ? this.heartbeat : undefined;
  }

  /** One HTTP/1.1 request: decided (decide.ts), then answered here or forwarded. */
  private handle(raw: IncomingMessage, client: ServerResponse): void {
    const started = process.hrtime.bigint();
    const runtime = this.currentRuntime;
    if (this.closing) client.setHeader('connection', 'close');
    const turn = this.order.enter(raw, client);
    decide(this.inbound(raw), runtime, this.services)
      .then((decision) => this.answer(decision, raw, client, runtime, started, turn))
      .catch((error: unknown) => this.failed(error, raw, client, runtime, started));
  }

  private async answer(decision: Decision, raw: IncomingMessage, client: ServerResponse, runtime: Runtime, started: bigint, turn: Promise<void>): Promise<void> {
    if (decision.kind === 'v3-gateway') {
      // Its access line is the v3 call's (v3/report.ts), once the gateway decided.
      const etcd = decision.request;
      const body = requestBody(raw, runtime) ?? Readable.from([]);
      await turn;
      const call = { httpMethod: etcd.method, path: etcd.kind === 'endpoint' ? etcd.path : '', authorization: raw.headers.authorization, remote: raw.socket.remoteAddress ?? '', body };
      return this.v3.gateway.handle(call, client);
    }
    const access = this.accessRecords.start(raw, client, decision, started);
    if (decision.authFailure !== undefined) this.deps.metrics.authFailures.inc({ reason: decision.authFailure });
    switch (decision.kind) {
      case 'allow':
        return this.forwarder.forward({ incoming: raw, client, etcd: decision.request, runtime, access, body: requestBody(raw, runtime), turn });
      case 'redirect':
        client.writeHead(301, { location: decision.location, 'content-length': '0' });
        client.end();
        return;
      case 'refuse':
        access.bytes = writeProxyError(client, decision.error, runtime.upstream.clusterId);
        return;
    }
  }

  /** A bug, not a decision: logged, answered 503 if nothing was sent yet, and still one access line. */
  private failed(error: unknown, raw: IncomingMessage, client: ServerResponse, runtime: Runtime, started: bigint): void {
    this.deps.log.error({ err: error, method: raw.method }, 'unexpected error while handling a request');
    if (client.headersSent) {
      client.destroy();
      return;
    }
    const access = this.accessRecords.start(raw, client, unparsed(raw, 'allowed', undefined), started);
    access.bytes = writeProxyError(client, serviceUnavailableError('internal proxy error'), runtime.upstream.clusterId);
  }

  private inbound(raw: IncomingMessage): InboundRequest {
    return {
      method: raw.method ?? '',
      target: raw.url ?? '',
      upgrade: raw.headers.upgrade !== undefined,
      headerCount: headerCount(raw.rawHeaders),
      overConnectionCap: this.connectionCap.refuses(raw.socket),
      contentLength: raw.headers['content-length'],
      authorization: raw.headers.authorization,
      maxStaleness: raw.headers[maxStalenessHeader],
      remote: raw.socket.remoteAddress ?? '',
    };
  }

  /** The gRPC answer to every call on a connection accepted over limits.maxConnections. */
  private overConnectionCap(socket: Socket | undefined): EtcdGrpcError | undefined {
    if (socket === undefined || !this.connectionCap.refuses(socket)) return undefined;
    const limit = this.currentRuntime.limits.maxConnections;
    return new EtcdGrpcError(GrpcCode.Unavailable, `etcd-warden: too many connections (this proxy serves at most ${limit} at once)`);
  }
}

/**
 * The request body to forward, wrapped in the size limit; null when there is
 * none. As fastify decided before: GET and HEAD never carry one (a body sent
 * with them is read and dropped by node:http), other methods when they
 * declare a length above 0, chunked framing or a content type.
 */
function requestBody(raw: IncomingMessage, runtime: Runtime): Readable | null {
  if (raw.method === 'GET' || raw.method === 'HEAD') return null;
  const { headers } = raw;
  const declared = headers['content-length'] !== undefined && headers['content-length'] !== '0';
  if (!declared && headers['transfer-encoding'] === undefined && headers['content-type'] === undefined) return null;
  return raw.pipe(limitBody(runtime.maxBodyBytes));
}
