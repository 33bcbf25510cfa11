// A small typed etcd v3 client on @grpc/grpc-js, for the mirror's source
// and destination sides: Range, Txn, the Watch stream, and Authenticate
// when the URL carries `user:password@` (the token travels as gRPC metadata
// `token`, as etcd's own clients send it).
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { certificateProblem, describeCertificateProblem, tlsOptions, type CertificateProblem, type TlsMaterial } from '../tls.js';
import { etcdProtoDirectory, etcdRpcProtoFile } from './proto.js';
import { rangeFromWire, rangeToWire, txnFromWire, txnToWire, watchCreateToWire, watchMessageFromWire } from './wire.js';
import type { RangeRequest, RangeResult, TxnRequest, TxnResult, WatchCreate, WatchMessage } from './types.js';

/** A gRPC status from etcd (or from the channel: UNAVAILABLE when it cannot connect), with etcd's own message. */
export class EtcdV3Error extends Error {
  readonly code = 'ETCD_WARDEN_V3_ERROR';
  constructor(
    readonly status: grpc.status,
    readonly details: string,
    readonly method: string,
    /** Set when the channel could not connect because of a certificate (ours or the server's). */
    readonly certificate?: CertificateProblem,
  ) {
    super(`${method}: ${grpc.status[status] ?? status}: ${certificate === undefined ? details : describeCertificateProblem(certificate)}`);
  }
}

// etcd answers OUT_OF_RANGE "mvcc: required revision has been compacted" to a Range below its compaction.
export function isCompactedError(error: unknown): boolean {
  return error instanceof EtcdV3Error && error.status === grpc.status.OUT_OF_RANGE && error.details.includes('compacted');
}

/**
 * Worth retrying with backoff: the connection, a restarting member, a leader
 * election ("etcdserver: leader changed", "request timed out"), load ("too
 * many requests") or a full disk that an operator will fix. Not: a refused
 * request (too large, too many operations, permission denied), compaction.
 */
export function isTransientV3(error: unknown): boolean {
  if (!(error instanceof EtcdV3Error)) return false;
  const retried: readonly grpc.status[] = [
    grpc.status.UNAVAILABLE,
    grpc.status.DEADLINE_EXCEEDED,
    grpc.status.RESOURCE_EXHAUSTED,
    grpc.status.ABORTED,
    grpc.status.INTERNAL,
    grpc.status.UNKNOWN,
    grpc.status.CANCELLED,
  ];
  return retried.includes(error.status);
}

export interface EtcdV3ClientOptions {
  /** For https URLs: the CA to trust (default: the system's) and a client certificate. */
  readonly tls?: TlsMaterial;
  readonly callTimeoutMs?: number;
  /** Told once per change: connections start failing on a certificate (the problem), or work again (undefined). */
  readonly onCertificateProblem?: (problem: CertificateProblem | undefined) => void;
}

interface Method {
  readonly path: string;
  readonly requestSerialize: (value: object) => Buffer;
  readonly responseDeserialize: (bytes: Buffer) => unknown;
}

let services: protoLoader.PackageDefinition | undefined;

function method(service: 'KV' | 'Watch' | 'Auth', name: string): Method {
  services ??= protoLoader.loadSync(etcdRpcProtoFile(), {
    keepCase: true,
    longs: String,
    enums: Number,
    defaults: true,
    oneofs: true,
    includeDirs: [etcdProtoDirectory()],
  });
  const definition = services[`etcdserverpb.${service}`] as Record<string, Method> | undefined;
  const found = definition?.[name];
  if (found === undefined) throw new Error(`etcd's rpc.proto has no ${service}.${name}`);
  return found;
}

export class EtcdV3Client {
  /** host:port, for logs. */
  readonly target: string;
  private readonly client: grpc.Client;
  private readonly credentials: { name: string; password: string } | undefined;
  private readonly callTimeoutMs: number;
  private token: Promise<string> | undefined;
  private readonly tls: TlsMaterial | undefined;
  private readonly onCertificateProblem: ((problem: CertificateProblem | undefined) => void) | undefined;
  private certificateState: string | undefined;

  constructor(url: string, options: EtcdV3ClientOptions = {}) {
    this.tls = options.tls;
    this.onCertificateProblem = options.onCertificateProblem;
    const parsed = new URL(url);
    this.target = parsed.host;
    this.credentials = parsed.username === '' ? undefined : { name: decodeURIComponent(parsed.username), password: decodeURIComponent(parsed.password) };
    this.callTimeoutMs = options.callTimeoutMs ?? 30_000;
    const tls = tlsOptions(options.tls);
    const channelCredentials = parsed.protocol === 'https:' ? grpc.credentials.createSsl(tls.ca ?? null, tls.key ?? null, tls.cert ?? null) : grpc.credentials.createInsecure();
    this.client = new grpc.Client(this.target, channelCredentials, {
      // etcd packs up to 1,000 revisions into one WatchResponse while a
      // watcher catches up (13 MiB measured for seven 1 MiB values); etcd's
      // own client accepts math.MaxInt32. grpc-js's default is 4 MiB.
      'grpc.max_receive_message_length': -1,
      'grpc.max_send_message_length': -1,
      // etcd refuses pings more often than every 5 s (--grpc-keepalive-min-time)
      // and any ping without an open stream; the watch keeps one open.
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
      'grpc.keepalive_permit_without_calls': 0,
      // grpc-js waits up to 120 s between reconnects by default; our own
      // backoff (100 ms to 5 s) decides how often to try.
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 5_000,
    });
  }

  close(): void {
    this.client.close();
  }

  range(request: RangeRequest): Promise<RangeResult> {
    return this.unary('KV', 'Range', rangeToWire(request)).then(rangeFromWire);
  }

  txn(request: TxnRequest): Promise<TxnResult> {
    return this.unary('KV', 'Txn', txnToWire(request)).then(txnFromWire);
  }

  /**
   * Opens a watch stream with one watcher. `hasleader` makes etcd cancel it
   * when the member loses its leader, instead of keeping a partitioned
   * member's silent stream open (what etcd's clientv3.WithRequireLeader sends).
   */
  async watch(create: WatchCreate): Promise<WatchStream> {
    const metadata = await this.metadata();
    metadata.set('hasleader', 'true');
    const watch = method('Watch', 'Watch');
    const call = this.client.makeBidiStreamRequest(watch.path, watch.requestSerialize, watch.responseDeserialize, metadata, {});
    call.write(watchCreateToWire(create));
    return new WatchStream(call, (status, details) => this.failure(status, details, 'Watch'), () => this.certificateWorks());
  }

  /** A gRPC failure as an EtcdV3Error; a certificate problem is told once per change of state. */
  private failure(status: grpc.status, details: string, method: string): EtcdV3Error {
    const problem = status === grpc.status.UNAVAILABLE ? certificateProblem(undefined, details, this.tls) : undefined;
    if (problem !== undefined) {
      const described = describeCertificateProblem(problem);
      if (this.certificateState !== described) {
        this.certificateState = described;
        this.onCertificateProblem?.(problem);
      }
    }
    return new EtcdV3Error(status, details, method, problem);
  }

  private certificateWorks(): void {
    if (this.certificateState === undefined) return;
    this.certificateState = undefined;
    this.onCertificateProblem?.(undefined);
  }

  private async metadata(): Promise<grpc.Metadata> {
    const metadata = new grpc.Metadata();
    if (this.credentials !== undefined) metadata.set('token', await this.authenticate());
    return metadata;
  }

  private authenticate(): Promise<string> {
    const credentials = this.credentials;
    if (credentials === undefined) return Promise.resolve('');
    this.token ??= this.call('Auth', 'Authenticate', credentials, new grpc.Metadata()).then((response) => {
      const token = (response as { token?: unknown }).token;
      if (typeof token !== 'string' || token === '') throw new EtcdV3Error(grpc.status.UNAUTHENTICATED, 'etcd returned no token', 'Auth.Authenticate');
      return token;
    });
    this.token.catch(() => {
      this.token = undefined;
    });
    return this.token;
  }

  private async unary(service: 'KV', name: string, request: object): Promise<unknown> {
    try {
      return await this.call(service, name, request, await this.metadata());
    } catch (error) {
      // etcd's simple tokens expire 300 s after last use: authenticate again once.
      if (this.credentials === undefined || !(error instanceof EtcdV3Error) || !/invalid auth token|UNAUTHENTICATED/i.test(`${grpc.status[error.status]} ${error.details}`)) throw error;
      this.token = undefined;
      return this.call(service, name, request, await this.metadata());
    }
  }

  private call(service: 'KV' | 'Auth', name: string, request: object, metadata: grpc.Metadata): Promise<unknown> {
    const definition = method(service, name);
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(
        definition.path,
        definition.requestSerialize,
        definition.responseDeserialize,
        request,
        metadata,
        { deadline: Date.now() + this.callTimeoutMs },
        (error, response) => {
          if (error !== null) reject(this.failure(error.code, error.details, `${service}.${name}`));
          else {
            this.certificateWorks();
            resolve(response);
          }
        },
      );
    });
  }
}

/**
 * One watch stream, read with `for await`: reading slowly pushes back on
 * etcd through HTTP/2 flow control (the stream buffers a few messages, then
 * stops reading the socket).
 */
export class WatchStream implements AsyncIterable<WatchMessage> {
  private closed = false;

  constructor(
    private readonly call: grpc.ClientDuplexStream<object, unknown>,
    private readonly failure: (status: grpc.status, details: string) => EtcdV3Error,
    private readonly answered: () => void,
  ) {
    // Errors surface through the iterator; this keeps an error after close from being unhandled.
    call.on('error', () => undefined);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<WatchMessage> {
    try {
      for await (const raw of this.call as AsyncIterable<unknown>) {
        this.answered();
        yield watchMessageFromWire(raw);
      }
    } catch (error) {
      if (this.closed) return;
      const status = error as { code?: unknown; details?: unknown };
      if (typeof status.code === 'number') throw this.failure(status.code, String(status.details ?? ''));
      throw error;
    }
    if (!this.closed) throw new EtcdV3Error(grpc.status.UNAVAILABLE, 'etcd closed the watch stream', 'Watch');
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.call.cancel();
  }
}
