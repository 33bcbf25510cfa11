// etcd's gRPC API through the proxy: one handler for each HTTP/2 stream of
// the proxy's h2 side (alpn.ts hands it the connections). Each call is
// decided on its decoded messages and forwarded as their re-encoding
// (message.ts says why), on the proxy's one connection to etcd:
//   unary calls (and Snapshot)  the request message, decided whole
//   Watch                       every message, decided as it comes; a refused
//                               creation is answered as etcd answers one
//                               (created + canceled, "permission denied")
//   LeaseKeepAlive              every message, after looking up the lease's
//                               keys; a refused one ends the call
//   Auth.Authenticate           answered here, never sent to etcd
//   methods the .proto files do not define: admins only, passed as bytes
// The `token` and `authorization` metadata never reach etcd.
import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { EtcdGrpcError, GrpcCode, invalidAuthToken } from '../../mirror/etcd/v3/errors.js';
import { etcdProtoRoot } from '../../mirror/etcd/v3/proto.js';
import { describeKeyRange } from '../../mirror/etcd/v3/key-range.js';
import { decide, type V3Decision, type V3Identity } from './decide.js';
import { authenticateV3, identityFromToken, type V3Credentials } from './credentials.js';
import { encodeFrame, RequestFrameReader } from './frames.js';
import { ResponseRelay } from './grpc-relay.js';
import { leaseLookupOn } from './lease-keys.js';
import { decodeMessage, encodeMessage } from './message.js';
import { etcdMethods, type EtcdMethod } from './methods.js';
import { requirementsOf, unknownMethodRequirements, type Requirements } from './requirements.js';
import type { V3Runtime } from './runtime.js';
import type { EtcdUpstream } from './upstream.js';
import { newCallRecord, type V3CallObserver, type V3CallRecord } from './access.js';

export interface GrpcProxyOptions {
  /** The runtime in force now: a call opens on its upstream, each message is judged by its policy. */
  readonly runtime: () => V3Runtime;
  readonly credentials: V3Credentials;
  readonly maxRequestMessageBytes?: number;
  /** Told when each call starts and ends: /clients, the access log and the metrics hang here. */
  readonly observer?: V3CallObserver;
  /** A refusal for every call on this connection (the connection cap), checked before anything else. */
  readonly connectionRefusal?: (stream: ServerHttp2Stream) => EtcdGrpcError | undefined;
}

// Metadata etcd must not see: credentials are ours, and we re-encode every
// message uncompressed. te is set again below.
const notForwarded = new Set(['token', 'authorization', 'grpc-encoding', 'content-length', 'host', 'connection', 'keep-alive', 'te', 'transfer-encoding', 'upgrade']);

function forwardedMetadata(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = { te: 'trailers' };
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || name.startsWith(':') || notForwarded.has(name)) continue;
    out[name] = value;
  }
  return out;
}

function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

export class GrpcProxy {
  private readonly authenticateResponse = etcdProtoRoot().lookupType('etcdserverpb.AuthenticateResponse');
  private readonly watchResponse = etcdProtoRoot().lookupType('etcdserverpb.WatchResponse');
  private readonly open = new Set<Call>();

  constructor(private readonly options: GrpcProxyOptions) {}

  /**
   * Ends every open stream (Watch, LeaseKeepAlive, Snapshot) with UNAVAILABLE,
   * as clients see it when etcd itself stops (measured on 3.4.23: the
   * connection drops, grpc-js reports 14, python-etcd3 raises
   * ConnectionFailedError, etcdctl and the Node client watch again).
   * Unary calls are left to finish.
   */
  cutStreams(reason: string): void {
    for (const call of this.open) {
      if (!call.record.stream) continue;
      call.record.reason = reason;
      call.relay.fail(new EtcdGrpcError(GrpcCode.Unavailable, `etcd-warden: ${reason}`));
    }
  }

  /** Serves one HTTP/2 stream: hang it on an http2 server's 'stream' event. */
  handleStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    stream.on('error', () => undefined);
    const contentType = firstHeader(headers['content-type']) ?? '';
    if (headers[':method'] !== 'POST' || !contentType.startsWith('application/grpc')) {
      // Only gRPC rides HTTP/2 here; v2 and the JSON gateway are HTTP/1.1.
      stream.respond({ ':status': 415, 'content-type': 'text/plain; charset=utf-8' });
      stream.end('etcd-warden serves gRPC on HTTP/2; the v2 API and the v3 JSON gateway are served on HTTP/1.1\n');
      return;
    }
    const path = firstHeader(headers[':path']) ?? '';
    const method = etcdMethods().byPath.get(path);
    const call = new Call(stream, headers, method, path, this.options);
    this.open.add(call);
    stream.once('close', () => this.open.delete(call));
    const refusal = this.options.connectionRefusal?.(stream);
    if (refusal !== undefined) return void call.refuse(refusal, 'denied-limit', refusal.message);
    if (method?.name === 'Auth/Authenticate') this.authenticate(call);
    else if (method === undefined) this.passUnknown(call);
    else if (method.name === 'Watch/Watch' || method.name === 'Lease/LeaseKeepAlive') this.streamMessages(call, method);
    else this.forwardOne(call, method);
  }

  private authenticate(call: Call): void {
    call.readMessages(async (bytes) => {
      const type = etcdMethods().byPath.get('/etcdserverpb.Auth/Authenticate')?.requestType;
      const decoded = type === undefined ? new EtcdGrpcError(GrpcCode.Internal, 'no Authenticate type') : decodeMessage(type, bytes);
      if (decoded instanceof EtcdGrpcError) return call.refuse(decoded, 'bad-request', decoded.message);
      const name = typeof decoded.view.name === 'string' ? decoded.view.name : '';
      const password = typeof decoded.view.password === 'string' ? decoded.view.password : '';
      const outcome = await authenticateV3(name, password, call.remote, this.options.credentials);
      call.record.user = name;
      if (!outcome.ok) return call.refuse(outcome.error, 'denied-auth', outcome.reason);
      const response = this.authenticateResponse.encode({ header: {}, token: outcome.token }).finish();
      call.answer(encodeFrame(response));
      return 'done';
    }, { single: true });
  }

  private passUnknown(call: Call): void {
    const decision = decide(unknownMethodRequirements(), call.identity, this.options.runtime().policy);
    if (decision.kind !== 'allow') return void call.settle(decision);
    const upstream = call.openUpstream(this.options.runtime().upstream);
    if (upstream === undefined) return;
    call.client.pipe(upstream);
  }

  private forwardOne(call: Call, method: EtcdMethod): void {
    call.readMessages(async (bytes) => {
      const decision = await this.decideMessage(call, method, bytes);
      if (decision.kind !== 'forward') return call.settle(decision.decision);
      const upstream = call.openUpstream(this.options.runtime().upstream);
      upstream?.end(encodeFrame(decision.bytes));
      return 'done';
    }, { single: true });
  }

  private streamMessages(call: Call, method: EtcdMethod): void {
    // A stream is authenticated once, when it opens (etcd's clients send the token then).
    if (call.identity.kind === 'invalid-token') return void call.refuse(invalidAuthToken(), 'denied-auth', 'invalid or expired token');
    const upstream = call.openUpstream(this.options.runtime().upstream);
    if (upstream === undefined) return;
    call.readMessages(async (bytes) => {
      const decision = await this.decideMessage(call, method, bytes);
      if (decision.kind === 'forward') {
        if (!upstream.write(encodeFrame(decision.bytes))) await new Promise((resolve) => upstream.once('drain', resolve));
        return 'more';
      }
      call.record.deniedMessages++;
      call.record.reason = decision.decision.kind === 'deny' ? decision.decision.reason : undefined;
      if (method.name === 'Watch/Watch' && decision.decision.kind === 'deny' && decision.decision.label === 'denied-acl') {
        // etcd's own answer to a refused watch (v3rpc/watch.go): created and
        // canceled at once, watch ID -1, so clients raise their usual error.
        const refusal = { watch_id: -1, created: true, canceled: true, cancel_reason: decision.decision.error.message };
        call.relay.inject(encodeFrame(this.watchResponse.encode(refusal).finish()));
        return 'more';
      }
      return call.settle(decision.decision);
    }, { single: false, onEnd: () => upstream.end() });
  }

  /** Decode, decide (looking up lease keys when asked), re-encode. */
  private async decideMessage(call: Call, method: EtcdMethod, bytes: Buffer): Promise<{ kind: 'forward'; bytes: Buffer } | { kind: 'settled'; decision: V3Decision }> {
    const decoded = decodeMessage(method.requestType, bytes);
    if (decoded instanceof EtcdGrpcError) return { kind: 'settled', decision: { kind: 'deny', label: 'bad-request', error: decoded, reason: decoded.message } };
    let needs: Requirements;
    try {
      needs = requirementsOf(method.name, decoded.view);
    } catch (error) {
      const refusal = new EtcdGrpcError(GrpcCode.InvalidArgument, `etcd-warden: cannot read the request: ${(error as Error).message}`);
      return { kind: 'settled', decision: { kind: 'deny', label: 'bad-request', error: refusal, reason: refusal.message } };
    }
    call.record.messages++;
    if (call.record.target === '') call.record.target = [...needs.writes, ...needs.reads].map(describeKeyRange).join(' ');
    const { policy, upstream } = this.options.runtime();
    let decision = decide(needs, call.identity, policy);
    if (decision.kind === 'lookup') {
      try {
        decision = decide(needs, call.identity, policy, await leaseLookupOn(upstream)(decision));
      } catch (error) {
        const unavailable = error instanceof EtcdGrpcError ? error : new EtcdGrpcError(GrpcCode.Unavailable, `etcd-warden: ${(error as Error).message}`);
        return { kind: 'settled', decision: { kind: 'deny', label: 'denied-acl', error: unavailable, reason: `lease lookup failed: ${unavailable.message}` } };
      }
    }
    if (decision.kind === 'allow') return { kind: 'forward', bytes: encodeMessage(method.requestType, decoded.message) };
    if (decision.kind === 'lookup') throw new Error('a decision asked for a second lookup');
    return { kind: 'settled', decision };
  }
}

type MessageOutcome = 'more' | 'done';

/** One call's state: the client stream, who is calling, and what the log will say. */
class Call {
  readonly identity: V3Identity;
  readonly remote: string;
  readonly relay: ResponseRelay;
  readonly record: V3CallRecord;
  private readonly started = process.hrtime.bigint();

  constructor(
    readonly client: ServerHttp2Stream,
    private readonly headers: IncomingHttpHeaders,
    method: EtcdMethod | undefined,
    path: string,
    private readonly options: GrpcProxyOptions,
  ) {
    this.remote = client.session?.socket?.remoteAddress ?? '';
    // python-etcd3 sends its token twice (metadata and call credentials), and
    // node joins repeated fields with ", ": tokens hold neither, so the first is it.
    const token = (firstHeader(headers.token) ?? firstHeader(headers.authorization))?.split(',')[0]?.trim();
    this.identity = identityFromToken(token, options.credentials.tokens);
    this.relay = new ResponseRelay(client, { injects: method?.name === 'Watch/Watch' });
    this.record = newCallRecord('grpc', method?.name ?? path, this.remote, method?.requestStream === true || method?.responseStream === true);
    this.record.user = this.identity.kind === 'user' ? this.identity.user : undefined;
    options.observer?.begin(this.record);
    client.on('close', () => {
      this.record.grpcStatus = this.relay.status;
      if (this.relay.upstreamFailure !== undefined) {
        this.record.upstreamFailed = true;
        this.record.reason ??= this.relay.upstreamFailure;
      }
      if (this.record.grpcStatus === undefined && this.record.reason === undefined) this.record.reason = 'client went away before the call ended';
      this.record.durationMs = Number(process.hrtime.bigint() - this.started) / 1e6;
      options.observer?.end(this.record);
    });
  }

  openUpstream(upstream: EtcdUpstream): ReturnType<EtcdUpstream['openStream']> | undefined {
    // A client gone while its request was being decided gets nothing started for it.
    if (this.relay.clientGone) return undefined;
    try {
      const stream = upstream.openStream(firstHeader(this.headers[':path']) ?? '', forwardedMetadata(this.headers));
      this.relay.attach(stream);
      return stream;
    } catch (error) {
      this.relay.failUpstream(`cannot reach etcd: ${(error as Error).message}`);
      return undefined;
    }
  }

  /** Reads request messages one at a time; the client is paused while one is decided. */
  readMessages(handle: (message: Buffer) => Promise<MessageOutcome>, how: { single: boolean; onEnd?: () => void }): void {
    const reader = new RequestFrameReader(this.options.maxRequestMessageBytes);
    // Never rejects: a failure while handling a message ends the call instead.
    let queue: Promise<MessageOutcome> = Promise.resolve('more');
    let received = 0;
    const handled = (message: Buffer) => (previous: MessageOutcome): Promise<MessageOutcome> | MessageOutcome => {
      if (previous === 'done' || this.relay.clientGone) return 'done';
      return handle(message).catch((error: unknown) => this.refuse(new EtcdGrpcError(GrpcCode.Internal, `etcd-warden: ${String(error)}`), 'bad-request', String(error)));
    };
    const onData = (chunk: Buffer): void => {
      const messages = reader.push(chunk);
      if (messages instanceof EtcdGrpcError) {
        this.client.off('data', onData);
        this.refuse(messages, 'bad-request', messages.message);
        return;
      }
      for (const message of messages) {
        received++;
        this.client.pause();
        queue = queue.then(handled(message));
      }
      void queue.then((outcome) => {
        if (outcome === 'done' && how.single) this.client.off('data', onData);
        if (!this.relay.clientGone) this.client.resume();
      });
    };
    this.client.on('data', onData);
    this.client.on('end', () => {
      void queue.then((outcome) => {
        if (received === 0 && how.single) this.refuse(new EtcdGrpcError(GrpcCode.Internal, 'grpc: the client sent no request message'), 'bad-request', 'no request message');
        else if (outcome === 'more') how.onEnd?.();
      });
    });
  }

  /** Answers a whole response of our own (Authenticate). */
  answer(frame: Buffer): void {
    this.relay.answer(frame);
  }

  settle(decision: V3Decision): MessageOutcome {
    if (decision.kind === 'deny') return this.refuse(decision.error, decision.label, decision.reason);
    return 'done';
  }

  refuse(error: EtcdGrpcError, label: V3CallRecord['decision'], reason: string): MessageOutcome {
    this.record.decision = label;
    this.record.reason = reason;
    this.relay.fail(error);
    return 'done';
  }
}
