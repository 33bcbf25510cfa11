// The wiring, in one place: one onRequest hook runs the pure stages
// (parse → gate → authenticate → authorize) and one handler hands the
// request to forward.ts, which streams it to etcd. Reading this file and
// gate.ts tells the whole request path.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { SecureContextOptions } from 'node:tls';
import { Readable } from 'node:stream';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { LoadedConfig } from '../config/load.js';
import { logAccess, type AccessRecord } from './access-log.js';
import type { FailedAuthLimiter } from './auth/failure-limiter.js';
import type { CredentialVerifier } from './auth/verifier.js';
import { authenticate } from './authenticate.js';
import { declaredLengthExceeds, limitBody } from './body-limit.js';
import { badRequestError, payloadTooLargeError, serviceUnavailableError, type ProxyError } from './errors.js';
import { Forwarder } from './forward.js';
import { authorize, gate, type Identity } from './gate.js';
import type { ProxyMetrics } from './metrics.js';
import { isReadMethod, loggableTarget, parseEtcdRequest, type EtcdRequest } from './request.js';
import { ClientRegistry } from './clients.js';
import { Heartbeat, type HeartbeatRole } from './heartbeat.js';
import { compileRuntime, type Runtime } from './runtime.js';
import { writeProxyError } from './respond.js';
import { tlsOptions } from './tls.js';
import type { Upstream } from './upstream.js';
import { maxStalenessHeader, stalenessGate } from './staleness.js';
import {
  answerClientError, ConnectionCap, headerCount, headersTooLargeError, serverLimitOptions, tooManyConnectionsError, upstreamRequestLineTooLong, uriTooLongError,
} from './limits.js';
import { OpenWatches } from './watch.js';

declare module 'fastify' {
  interface FastifyRequest {
    etcd: EtcdRequest | null;
    runtime: Runtime | null;
    access: AccessRecord | null;
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
  private runtime: Runtime;
  private readonly watches = new OpenWatches();
  private readonly connectionCap = new ConnectionCap(() => this.runtime.loaded.config.limits.maxConnections);
  private readonly forwarder: Forwarder;
  readonly clients = new ClientRegistry();
  private heartbeat: Heartbeat | undefined;

  constructor(
    loaded: LoadedConfig,
    private readonly deps: ProxyDependencies,
  ) {
    this.runtime = compileRuntime(loaded);
    this.forwarder = new Forwarder({ metrics: deps.metrics, watches: this.watches, replicaAge: () => this.replicaAge() });
    const { timeouts, limits } = loaded.config;
    // Header size and the timeout checking tick are fixed when the listener is made.
    const nodeLimits = serverLimitOptions(limits, timeouts);
    this.fastify = Fastify({
      // A TLS client that never finishes its handshake is a slowloris too.
      ...(loaded.tls === undefined ? { http: nodeLimits } : { https: { ...tlsOptions(loaded.tls), ...nodeLimits, handshakeTimeout: timeouts.clientHeadersMs } }),
      logger: false,
      // A watch is an idle connection for hours: no socket inactivity timeout.
      connectionTimeout: 0,
      // Bounds receiving the request only; a watch's request is complete at once.
      requestTimeout: timeouts.clientRequestMs,
      keepAliveTimeout: timeouts.clientKeepAliveMs,
      return503OnClosing: false,
      clientErrorHandler: (error: Error & { code?: string }, socket: Socket) => answerClientError(error, socket, this.runtime.loaded.config.limits),
      frameworkErrors: (error, request, reply) => {
        // Not error.message: fastify's quotes the whole URL back, query values included.
        const cause = (error as { code?: string }).code === 'FST_ERR_BAD_URL' ? 'the request target is not a valid URL' : 'the request could not be parsed';
        // Rejected before our hook runs: still one access line, like every request.
        const unparsed = loggableTarget(request.raw.url ?? '');
        const access = this.startRecord(request.raw, reply.raw, unparsed.target, unparsed.query, false);
        access.decision = 'bad-request';
        access.reason = cause;
        request.access = access;
        void this.sendError(reply, request, badRequestError(cause));
      },
    }) as unknown as FastifyInstance;
    this.fastify.server.headersTimeout = timeouts.clientHeadersMs;
    // Keep every header field, so too many is refused (431) rather than silently cut at Node's 2,000.
    this.fastify.server.maxHeadersCount = 0;
    // Before the TLS layer and http's own listener: the count starts at accept.
    this.fastify.server.prependListener('connection', (socket: Socket) => this.connectionCap.admit(socket));
    this.fastify.server.on('connection', (socket: Socket) => this.clients.trackConnection(socket));
    this.fastify.decorateRequest('etcd', null);
    this.fastify.decorateRequest('runtime', null);
    this.fastify.decorateRequest('access', null);
    this.fastify.removeAllContentTypeParsers();
    this.fastify.addContentTypeParser('*', (request, payload, done) => {
      const limit = request.runtime?.loaded.config.maxBodyBytes ?? 0;
      done(null, (payload as Readable).pipe(limitBody(limit)));
    });
    this.fastify.addHook('onRequest', (request, reply) => this.decide(request, reply));
    const forward = (request: FastifyRequest, reply: FastifyReply): Promise<void> => this.forward(request, reply);
    this.fastify.all('*', forward);
    this.fastify.setNotFoundHandler(forward);
    this.fastify.setErrorHandler((error, request, reply) => {
      this.deps.log.error({ err: error, method: request.method }, 'unexpected error while handling a request');
      const status = (error as { statusCode?: number }).statusCode;
      void this.sendError(reply, request, status === 413 ? payloadTooLargeError(this.runtime.loaded.config.maxBodyBytes) : serviceUnavailableError('internal proxy error'));
    });
    this.deps.metrics.readOnly.set(loaded.config.readOnly ? 1 : 0);
    if (loaded.tls !== undefined) this.deps.metrics.certificateExpiry.set(loaded.tls.notAfter.getTime() / 1000);
    this.deps.metrics.followReplicaAge(() => this.heartbeat?.ageSeconds());
    this.heartbeat = this.startHeartbeat(this.runtime);
  }

  /** The primary (read-write) writes heartbeats; a replica (read-only) follows them. */
  private startHeartbeat(runtime: Runtime): Heartbeat | undefined {
    const settings = runtime.loaded.config.heartbeat;
    if (settings === undefined) return undefined;
    const role: HeartbeatRole = runtime.policy.readOnly ? 'follower' : 'writer';
    return new Heartbeat(role, settings, runtime.upstream, this.deps.log, {
      written: (result) => this.deps.metrics.heartbeatWrites.inc({ result }),
    });
  }

  /** Seconds behind the primary, when this proxy follows heartbeats. */
  private replicaAge(): number | undefined {
    return this.heartbeat?.role === 'follower' ? this.heartbeat.ageSeconds() : undefined;
  }

  get openWatches(): number {
    return this.watches.size;
  }

  get current(): LoadedConfig {
    return this.runtime.loaded;
  }

  get upstream(): Upstream {
    return this.runtime.upstream;
  }

  async listen(): Promise<string> {
    const { host, port } = this.runtime.loaded.config.listen;
    return this.fastify.listen({ host, port });
  }

  /** Swaps in a new config; open connections and watches keep going. */
  reload(loaded: LoadedConfig): string[] {
    const notes: string[] = [];
    const previous = this.runtime;
    const before = previous.loaded.config;
    if (before.listen.host !== loaded.config.listen.host || before.listen.port !== loaded.config.listen.port) {
      notes.push('listen changed: takes effect at the next restart');
    }
    if ((before.tls === undefined) !== (loaded.tls === undefined)) notes.push('turning TLS on or off takes effect at the next restart');
    else if (loaded.tls !== undefined) {
      (this.fastify.server as unknown as { setSecureContext(options: SecureContextOptions): void }).setSecureContext(tlsOptions(loaded.tls));
      this.deps.metrics.certificateExpiry.set(loaded.tls.notAfter.getTime() / 1000);
    }
    this.runtime = compileRuntime(loaded, previous);
    if (JSON.stringify(before.heartbeat) !== JSON.stringify(loaded.config.heartbeat) || before.readOnly !== loaded.config.readOnly || this.runtime.upstream !== previous.upstream) {
      void this.heartbeat?.stop();
      this.heartbeat = this.startHeartbeat(this.runtime);
    }
    if (this.runtime.upstream !== previous.upstream) void previous.upstream.close();
    this.deps.verifier.replaceTable(loaded.users);
    this.deps.metrics.readOnly.set(loaded.config.readOnly ? 1 : 0);
    return notes;
  }

  /** Stops accepting, ends open watches, gives ordinary requests a grace period. */
  async close(): Promise<void> {
    await this.heartbeat?.stop();
    const closing = this.fastify.close();
    this.watches.cutAll();
    const grace = this.runtime.loaded.config.timeouts.shutdownGraceMs;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), grace);
    });
    const result = await Promise.race([closing.then(() => 'closed' as const), timedOut]);
    clearTimeout(timer);
    if (result === 'timeout') {
      this.deps.log.warn({ graceMs: grace }, 'requests still running after the shutdown grace period; closing their connections');
      this.fastify.server.closeAllConnections();
      await closing;
    }
    await this.runtime.upstream.destroy();
  }

  private async decide(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const runtime = this.runtime;
    const raw = request.raw;
    const parsed = parseEtcdRequest(raw.method ?? '', raw.url ?? '', raw.headers.upgrade !== undefined);
    const logged = parsed.ok ? { target: parsed.request.kind === 'keys' ? parsed.request.key : parsed.request.path, query: parsed.request.query } : loggableTarget(raw.url ?? '');
    const access = this.startRecord(raw, reply.raw, logged.target, logged.query, parsed.ok && parsed.request.kind === 'keys' && parsed.request.watch);
    request.access = access;
    request.runtime = runtime;

    if (this.connectionCap.refuses(raw.socket)) {
      access.decision = 'denied-limit';
      access.reason = `over limits.maxConnections (${runtime.loaded.config.limits.maxConnections})`;
      return this.sendError(reply, request, tooManyConnectionsError(runtime.loaded.config.limits.maxConnections));
    }
    if (headerCount(raw.rawHeaders) > runtime.loaded.config.limits.maxHeaderCount) {
      access.decision = 'denied-limit';
      access.reason = `over limits.maxHeaderCount (${runtime.loaded.config.limits.maxHeaderCount})`;
      return this.sendError(reply, request, headersTooLargeError(`At most ${runtime.loaded.config.limits.maxHeaderCount} header fields are accepted`));
    }

    if (!parsed.ok) {
      access.decision = 'bad-request';
      if (parsed.answer.kind === 'redirect') {
        access.reason = 'non-canonical path, redirected as etcd would';
        reply.hijack();
        reply.raw.writeHead(301, { location: parsed.answer.location, 'content-length': '0' });
        reply.raw.end();
        return;
      }
      access.reason = parsed.answer.reason;
      return this.sendError(reply, request, badRequestError(parsed.answer.reason));
    }
    const etcd = parsed.request;
    if (upstreamRequestLineTooLong(etcd.method, etcd.upstreamPath + (etcd.query === '' ? '' : '?' + etcd.query))) {
      access.decision = 'denied-limit';
      access.reason = 'request line too long for etcd';
      return this.sendError(reply, request, uriTooLongError());
    }
    if (declaredLengthExceeds(raw.headers['content-length'], runtime.loaded.config.maxBodyBytes)) {
      access.decision = 'bad-request';
      return this.sendError(reply, request, payloadTooLargeError(runtime.loaded.config.maxBodyBytes));
    }

    const gated = gate(etcd, runtime.policy);
    let identity: Identity = { kind: 'anonymous' };
    if (gated.kind === 'authenticate') {
      const outcome = await authenticate(raw.headers.authorization, access.remote, this.deps.verifier, this.deps.limiter);
      if (outcome.kind === 'refused') {
        access.decision = 'denied-auth';
        access.reason = outcome.reason;
        this.deps.metrics.authFailures.inc({ reason: outcome.reason });
        return this.sendError(reply, request, outcome.error);
      }
      identity = outcome.identity;
      access.user = identity.kind === 'user' ? identity.user : outcome.claimedUser;
    }
    const decision = authorize(gated, identity);
    access.decision = decision.label;
    if (decision.kind === 'deny') {
      if (decision.label === 'denied-auth') {
        const reason = identity.kind === 'anonymous' ? 'no-credentials' : identity.kind === 'rejected' ? 'bad-credentials' : 'not-permitted';
        access.reason = gated.kind === 'authenticate' && identity.kind === 'user' ? `${reason}: needs ${gated.needs}` : reason;
        this.deps.metrics.authFailures.inc({ reason });
      } else {
        access.reason = decision.error.body.cause;
      }
      return this.sendError(reply, request, decision.error);
    }
    if (this.heartbeat?.role === 'follower' && etcd.kind === 'keys' && isReadMethod(etcd.method)) {
      const stale = stalenessGate(raw.headers[maxStalenessHeader], this.replicaAge());
      if (stale !== undefined) {
        access.reason = stale.body.cause;
        return this.sendError(reply, request, stale);
      }
    }
    request.etcd = etcd;
  }

  private async forward(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const { etcd, runtime, access } = request;
    if (etcd === null || runtime === null || access === null) return this.sendError(reply, request, serviceUnavailableError('request reached the proxy handler undecided'));
    reply.hijack();
    const body = request.body instanceof Readable ? request.body : null;
    await this.forwarder.forward({ incoming: request.raw, client: reply.raw, etcd, runtime, access, body });
  }

  /** The request's access record, logged and counted once its response closes. */
  private startRecord(incoming: IncomingMessage, client: ServerResponse, target: string, query: string, watch: boolean): AccessRecord {
    const access: AccessRecord = {
      method: incoming.method ?? '',
      target,
      query,
      remote: incoming.socket.remoteAddress ?? '',
      user: undefined,
      status: 0,
      bytes: 0,
      decision: 'allowed',
      watch,
      reason: undefined,
    };
    this.recordWhenDone(client, access);
    return access;
  }

  private recordWhenDone(client: ServerResponse, access: AccessRecord): void {
    const started = process.hrtime.bigint();
    const untrack = this.clients.trackRequest(access);
    client.once('close', () => {
      untrack();
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      access.status = client.statusCode;
      if (!client.writableFinished && access.reason === undefined) access.reason = 'client went away before the response was complete';
      this.deps.metrics.observeRequest(access.method, access.status, access.decision, access.watch, seconds);
      logAccess(this.deps.log, access, seconds * 1000);
    });
  }

  private sendError(reply: FastifyReply, request: FastifyRequest, error: ProxyError): Promise<void> {
    const runtime = request.runtime ?? this.runtime;
    reply.hijack();
    const bytes = writeProxyError(reply.raw, error, runtime.upstream.clusterId);
    // On fastify's bad-URL path the request never got our decorations (access
    // is undefined): a throw here would take the whole proxy down.
    if (request.access !== undefined && request.access !== null) request.access.bytes = bytes;
    return Promise.resolve();
  }
}
