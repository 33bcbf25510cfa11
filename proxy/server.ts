// The wiring, in one place: one onRequest hook runs the pure stages
// (parse → gate → authenticate → authorize) and one handler streams the
// request to etcd. Reading this file and gate.ts tells the whole request path.
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { SecureContextOptions } from 'node:tls';
import { Readable } from 'node:stream';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { LoadedConfig, TlsMaterial } from '../config/load.js';
import { serializeWireError } from '../mirror/etcd/wire-error.js';
import { logAccess, type AccessRecord } from './access-log.js';
import type { FailedAuthLimiter } from './auth/failure-limiter.js';
import type { CredentialVerifier } from './auth/verifier.js';
import { authenticate } from './authenticate.js';
import { BodyTooLargeError, declaredLengthExceeds, limitBody } from './body-limit.js';
import {
  badRequestError, payloadTooLargeError, serviceUnavailableError, upstreamTimeoutError, upstreamUnavailableError, type ProxyError,
} from './errors.js';
import { authorize, gate, type Identity } from './gate.js';
import type { ProxyMetrics } from './metrics.js';
import { isReadMethod, loggableTarget, parseEtcdRequest, type EtcdRequest } from './request.js';
import { ClientRegistry } from './clients.js';
import { Heartbeat, type HeartbeatRole } from './heartbeat.js';
import { compileRuntime, type Runtime } from './runtime.js';
import { formatAge, maxStalenessHeader, replicaAgeHeader, stalenessGate } from './staleness.js';
import {
  answerClientError, ConnectionCap, headerCount, headersTooLargeError, serverLimitOptions, tooManyConnectionsError, upstreamRequestLineTooLong, uriTooLongError,
} from './limits.js';
import { classifyUpstreamError, clientResponseHeaders, upstreamRequestHeaders } from './upstream.js';
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

// Mozilla "intermediate": TLS 1.2 with forward-secret AEAD suites only; TLS 1.3 suites are Node's defaults.
const tlsCiphers = [
  'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-CHACHA20-POLY1305', 'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

function tlsOptions(tls: TlsMaterial): SecureContextOptions & { requestCert: boolean; rejectUnauthorized: boolean } {
  return {
    cert: tls.cert,
    key: tls.key,
    minVersion: 'TLSv1.2',
    ciphers: tlsCiphers,
    honorCipherOrder: true,
    requestCert: tls.clientCa !== undefined,
    rejectUnauthorized: tls.clientCa !== undefined,
    ...(tls.clientCa === undefined ? {} : { ca: tls.clientCa }),
  };
}

export class ProxyServer {
  readonly fastify: FastifyInstance;
  private runtime: Runtime;
  private readonly watches = new OpenWatches();
  private readonly connectionCap = new ConnectionCap(() => this.runtime.loaded.config.limits.maxConnections);
  /** The last forwarded request's completion, per client connection. */
  private readonly previousOnConnection = new WeakMap<object, Promise<void>>();
  readonly clients = new ClientRegistry();
  private heartbeat: Heartbeat | undefined;

  constructor(
    loaded: LoadedConfig,
    private readonly deps: ProxyDependencies,
  ) {
    this.runtime = compileRuntime(loaded);
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
        void this.sendError(reply, request, badRequestError((error as { code?: string }).code === 'FST_ERR_BAD_URL' ? 'the request target is not a valid URL' : 'the request could not be parsed'));
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
    this.watches.endAll();
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
    const unparsed = parsed.ok ? undefined : loggableTarget(raw.url ?? '');
    const access: AccessRecord = {
      method: raw.method ?? '',
      target: parsed.ok ? (parsed.request.kind === 'keys' ? parsed.request.key : parsed.request.path) : (unparsed?.target ?? ''),
      query: parsed.ok ? parsed.request.query : (unparsed?.query ?? ''),
      remote: raw.socket.remoteAddress ?? '',
      user: undefined,
      status: 0,
      bytes: 0,
      decision: 'allowed',
      watch: parsed.ok && parsed.request.kind === 'keys' && parsed.request.watch,
      reason: undefined,
    };
    request.access = access;
    request.runtime = runtime;
    this.recordWhenDone(reply.raw, access);

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
    const etcd = request.etcd;
    const runtime = request.runtime;
    const access = request.access;
    if (etcd === null || runtime === null || access === null) return this.sendError(reply, request, serviceUnavailableError('request reached the proxy handler undecided'));
    reply.hijack();
    const client = reply.raw;
    const watch = etcd.kind === 'keys' && etcd.watch;
    const aborter = new AbortController();
    client.once('close', () => {
      if (!client.writableFinished) aborter.abort();
    });
    // Node hands pipelined requests on one connection to us all at once (only
    // the answers are queued in order); etcd behind Go's server runs them one
    // after the other. Keep that order, or a pipelined PUT then GET (or two
    // PUTs to one key) could reach etcd swapped: seen in the pipelining test.
    const previous = this.previousOnConnection.get(request.raw.socket);
    this.previousOnConnection.set(request.raw.socket, new Promise<void>((resolve) => client.once('close', () => resolve())));
    if (previous !== undefined) await previous;
    if (aborter.signal.aborted) return;
    let response;
    try {
      response = await runtime.upstream.request({
        method: etcd.method,
        path: etcd.upstreamPath + (etcd.query === '' ? '' : '?' + etcd.query),
        headers: upstreamRequestHeaders(request.raw.headers, access.remote),
        body: request.body instanceof Readable ? request.body : null,
        watch,
        signal: aborter.signal,
      });
    } catch (error) {
      if (aborter.signal.aborted) return;
      if (error instanceof BodyTooLargeError) {
        access.decision = 'bad-request';
        this.writeError(client, payloadTooLargeError(error.limitBytes), runtime, access);
        return;
      }
      const kind = classifyUpstreamError(error);
      this.deps.metrics.upstreamErrors.inc({ kind });
      access.reason = `upstream ${kind}: ${(error as Error).message}`;
      const cause = `${runtime.upstream.origin.origin}: ${(error as Error).message}`;
      this.writeError(client, kind === 'timeout' ? upstreamTimeoutError(cause) : upstreamUnavailableError(cause), runtime, access);
      return;
    }
    const upstreamBody = response.body;
    const headers = clientResponseHeaders(response.headers);
    const age = isReadMethod(etcd.method) ? this.replicaAge() : undefined;
    if (age !== undefined) headers[replicaAgeHeader] = formatAge(age);
    client.writeHead(response.statusCode, headers);
    if (watch) {
      // etcd sends a watch's headers (X-Etcd-Index) at registration; pass them on now, not with the first event.
      client.flushHeaders();
      this.watches.add(client, upstreamBody);
      this.deps.metrics.openWatches.inc();
      client.once('close', () => this.deps.metrics.openWatches.dec());
    }
    upstreamBody.on('data', (chunk: Buffer) => {
      access.bytes += chunk.length;
    });
    upstreamBody.on('error', (error) => {
      // Aborted by the client, or ended by our own shutdown: not an upstream failure.
      if (aborter.signal.aborted || client.writableEnded) return;
      this.deps.metrics.upstreamErrors.inc({ kind: classifyUpstreamError(error) });
      access.reason = `upstream failed mid-response: ${error.message}`;
      client.destroy();
    });
    client.once('close', () => {
      if (!upstreamBody.readableEnded) upstreamBody.destroy();
    });
    upstreamBody.pipe(client);
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
    // `?? null`: on fastify's bad-URL path the request never got our decorations
    // (access is undefined), and a throw here would take the whole proxy down.
    this.writeError(reply.raw, error, runtime, request.access ?? null);
    return Promise.resolve();
  }

  /** The one writer of the proxy's own answers: etcd-shaped JSON, the cluster id when known. */
  private writeError(client: ServerResponse, error: ProxyError, runtime: Runtime, access: AccessRecord | null): void {
    const body = serializeWireError(error.body) + '\n';
    if (access !== null) access.bytes = Buffer.byteLength(body);
    client.writeHead(error.status, {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
      ...(runtime.upstream.clusterId === undefined ? {} : { 'x-etcd-cluster-id': runtime.upstream.clusterId }),
      ...error.headers,
    });
    client.end(body);
  }
}
