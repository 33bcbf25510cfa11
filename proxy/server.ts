// The wiring, in one place: one port (port.ts) for both protocols; on its
// HTTP/1.1 side one onRequest hook hands what it reads off the request to
// decide.ts (the whole decision, in order) and writes the answer, and one
// handler hands an allowed request to forward.ts, which streams it to etcd,
// or a v3 gateway request to proxy/v3/gateway-forward.ts; its HTTP/2 side is
// the v3 gRPC proxy (proxy/v3/grpc-proxy.ts). Reading this file and decide.ts
// tells the whole request path.
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { LoadedConfig } from '../config/load.js';
import { AccessRecorder, unparsed, type AccessRecord } from './access-log.js';
import type { FailedAuthLimiter } from './auth/failure-limiter.js';
import type { CredentialVerifier } from './auth/verifier.js';
import { limitBody } from './body-limit.js';
import { ClientRegistry } from './clients.js';
import { decide, type DecisionServices, type InboundRequest } from './decide.js';
import { badRequestError, payloadTooLargeError, serviceUnavailableError, type ProxyError } from './errors.js';
import { ConnectionOrder, Forwarder } from './forward.js';
import { Heartbeat } from './heartbeat.js';
import { headerCount } from './limits.js';
import { answerClientError, ConnectionCap, serverLimitOptions } from './listener.js';
import type { ProxyMetrics } from './metrics.js';
import { ClientPort } from './port.js';
import type { EtcdRequest } from './request.js';
import { writeProxyError } from './respond.js';
import { compileRuntime, runtimeChange, type Runtime } from './runtime.js';
import { maxStalenessHeader } from './staleness.js';
import type { Upstream } from './upstream.js';
import { V3Service } from './v3/service.js';
import { OpenWatches } from './watch.js';
import { EtcdGrpcError, GrpcCode } from '../mirror/etcd/v3/errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    etcd: EtcdRequest | null;
    runtime: Runtime | null;
    access: AccessRecord | null;
    /** For the v3 gateway: limits and parse passed, the v3 decision reads the body. */
    v3Gateway: boolean;
    /** Its place in line on its connection (ConnectionOrder), taken on arrival. */
    turn: Promise<void> | null;
  }
}

export interface ProxyDependencies {
  readonly log: Logger;
  readonly metrics: ProxyMetrics;
  readonly verifier: CredentialVerifier;
  readonly limiter: FailedAuthLimiter;
}

export class ProxyServer {
  readonly fastify: FastifyInstance;
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
    });
    const { timeouts, limits, tls } = runtime;
    // Header size and the timeout checking tick are fixed when the listener is made.
    const nodeLimits = serverLimitOptions(limits, timeouts);
    this.fastify = Fastify({
      // Plain HTTP/1.1 always: TLS, when on, is the port's (port.ts), in front of both protocols.
      http: nodeLimits,
      logger: false,
      // A watch is an idle connection for hours: no socket inactivity timeout.
      connectionTimeout: 0,
      // Bounds receiving the request only; a watch's request is complete at once.
      requestTimeout: timeouts.clientRequestMs,
      keepAliveTimeout: timeouts.clientKeepAliveMs,
      return503OnClosing: false,
      clientErrorHandler: (error: Error & { code?: string }, socket: Socket) => answerClientError(error, socket, this.currentRuntime.limits),
      frameworkErrors: (error, request, reply) => {
        // Not error.message: fastify's quotes the whole URL back, query values included.
        const cause = (error as { code?: string }).code === 'FST_ERR_BAD_URL' ? 'the request target is not a valid URL' : 'the request could not be parsed';
        // Rejected before our hook runs: still one access line, like every request.
        request.access = this.accessRecords.start(request.raw, reply.raw, unparsed(request.raw, 'bad-request', cause), process.hrtime.bigint());
        void this.sendError(reply, request, badRequestError(cause));
      },
    }) as unknown as FastifyInstance;
    this.fastify.server.headersTimeout = timeouts.clientHeadersMs;
    // Keep every header field, so too many is refused (431) rather than silently cut at Node's 2,000.
    this.fastify.server.maxHeadersCount = 0;
    this.fastify.decorateRequest('etcd', null);
    this.fastify.decorateRequest('v3Gateway', false);
    this.fastify.decorateRequest('turn', null);
    this.fastify.decorateRequest('runtime', null);
    this.fastify.decorateRequest('access', null);
    this.fastify.removeAllContentTypeParsers();
    this.fastify.addContentTypeParser('*', (request, payload, done) => {
      done(null, (payload as Readable).pipe(limitBody(request.runtime?.maxBodyBytes ?? 0)));
    });
    this.fastify.addHook('onRequest', (request, reply) => this.onRequest(request, reply));
    const forward = (request: FastifyRequest, reply: FastifyReply): Promise<void> => this.forward(request, reply);
    this.fastify.all('*', forward);
    this.fastify.setNotFoundHandler(forward);
    this.fastify.setErrorHandler((error, request, reply) => {
      this.deps.log.error({ err: error, method: request.method }, 'unexpected error while handling a request');
      // Thrown before the decision was told: still one access line.
      request.access ??= this.accessRecords.start(request.raw, reply.raw, unparsed(request.raw, 'allowed', undefined), process.hrtime.bigint());
      const status = (error as { statusCode?: number }).statusCode;
      void this.sendError(reply, request, status === 413 ? payloadTooLargeError(this.currentRuntime.maxBodyBytes) : serviceUnavailableError('internal proxy error'));
    });
    this.deps.metrics.readOnly.set(runtime.readOnly ? 1 : 0);
    if (tls !== undefined) this.deps.metrics.certificateExpiry.set(tls.notAfter.getTime() / 1000);
    this.deps.metrics.followReplicaAge(() => this.heartbeat?.ageSeconds());
    this.heartbeat = this.startHeartbeat(runtime);
    this.port = new ClientPort({
      tls, timeouts, limits, http1: this.fastify.server, grpc: this.v3.grpc,
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

  async listen(): Promise<string> {
    await this.fastify.ready();
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
    // Closes idle HTTP/1.1 connections; never resolves late (the server itself never listened).
    const closing = this.fastify.close();
    const stopping = 'the proxy is stopping, as a stopping etcd ends it';
    this.watches.cutAll();
    this.v3.cutStreams(stopping);
    this.port.closeSessions();
    const grace = this.currentRuntime.timeouts.shutdownGraceMs;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), grace);
    });
    const result = await Promise.race([Promise.all([allClosed, closing]).then(() => 'closed' as const), timedOut]);
    clearTimeout(timer);
    if (result === 'timeout') {
      this.deps.log.warn({ graceMs: grace }, 'requests still running after the shutdown grace period; closing their connections');
      this.fastify.server.closeAllConnections();
      this.port.destroySessions();
      await allClosed;
    }
    await this.currentRuntime.upstream.destroy();
    this.currentRuntime.v3.upstream.close();
  }

  /** The primary (read-write) writes heartbeats; a replica (read-only) follows them. */
  private startHeartbeat(runtime: Runtime): Heartbeat | undefined {
    if (runtime.heartbeat === undefined) return undefined;
    return new Heartbeat(runtime.readOnly ? 'follower' : 'writer', runtime.heartbeat, runtime.upstreamOptions, this.deps.log, {
      written: (result) => this.deps.metrics.heartbeatWrites.inc({ result }),
    });
  }

  /** The heartbeat this proxy follows, when it is a replica. */
  private replica(): Heartbeat | undefined {
    return this.heartbeat?.role === 'follower' ? this.heartbeat : undefined;
  }

  private async onRequest(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const started = process.hrtime.bigint();
    const runtime = this.currentRuntime;
    const raw = request.raw;
    request.turn = this.order.enter(raw, reply.raw);
    const decision = await decide(this.inbound(raw), runtime, this.services);
    request.runtime = runtime;
    if (decision.kind === 'v3-gateway') {
      // Its access line is the v3 call's (v3/report.ts), once the gateway decided.
      request.etcd = decision.request;
      request.v3Gateway = true;
      return;
    }
    const access = this.accessRecords.start(raw, reply.raw, decision, started);
    if (decision.authFailure !== undefined) this.deps.metrics.authFailures.inc({ reason: decision.authFailure });
    request.access = access;
    switch (decision.kind) {
      case 'allow':
        request.etcd = decision.request;
        return;
      case 'redirect':
        reply.hijack();
        reply.raw.writeHead(301, { location: decision.location, 'content-length': '0' });
        reply.raw.end();
        return;
      case 'refuse':
        return this.sendError(reply, request, decision.error);
    }
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

  private async forward(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const { etcd, runtime, access } = request;
    const turn = request.turn ?? Promise.resolve();
    const body = request.body instanceof Readable ? request.body : Readable.from([]);
    if (request.v3Gateway && etcd !== null) {
      reply.hijack();
      await turn;
      const raw = request.raw;
      const call = { httpMethod: etcd.method, path: etcd.kind === 'endpoint' ? etcd.path : '', authorization: raw.headers.authorization, remote: raw.socket.remoteAddress ?? '', body };
      return this.v3.gateway.handle(call, reply.raw);
    }
    if (etcd === null || runtime === null || access === null) return this.sendError(reply, request, serviceUnavailableError('request reached the proxy handler undecided'));
    reply.hijack();
    await this.forwarder.forward({ incoming: request.raw, client: reply.raw, etcd, runtime, access, body: request.body instanceof Readable ? body : null, turn });
  }

  /** The gRPC answer to every call on a connection accepted over limits.maxConnections. */
  private overConnectionCap(socket: Socket | undefined): EtcdGrpcError | undefined {
    if (socket === undefined || !this.connectionCap.refuses(socket)) return undefined;
    const limit = this.currentRuntime.limits.maxConnections;
    return new EtcdGrpcError(GrpcCode.Unavailable, `etcd-warden: too many connections (this proxy serves at most ${limit} at once)`);
  }

  private sendError(reply: FastifyReply, request: FastifyRequest, error: ProxyError): Promise<void> {
    const runtime = request.runtime ?? this.currentRuntime;
    reply.hijack();
    const bytes = writeProxyError(reply.raw, error, runtime.upstream.clusterId);
    // On fastify's bad-URL path the request never got our decorations (access
    // is undefined): a throw here would take the whole proxy down.
    if (request.access !== undefined && request.access !== null) request.access.bytes = bytes;
    return Promise.resolve();
  }
}
