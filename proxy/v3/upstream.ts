// One HTTP/2 connection to etcd's client URL for every v3 call (h2c on
// http://, TLS verified with the configured CA on https://), reopened on
// the next call after it dies. gRPC multiplexes every call as a stream of
// that one connection, as etcd's own clients do.
//
// Flow control: a client that stops reading its watch must not stall the
// others. Each stream may hold `streamWindowBytes` unread; the connection
// window is made as large as HTTP/2 allows, so one stuck stream never eats
// the window every other stream shares.
import { connect, constants, type ClientHttp2Session, type ClientHttp2Stream, type OutgoingHttpHeaders } from 'node:http2';
import { EtcdGrpcError, GrpcCode, grpcCodeOf } from '../../mirror/etcd/v3/errors.js';
import { encodeFrame, RequestFrameReader } from './frames.js';

export interface EtcdUpstreamOptions {
  /** etcd's client URL, e.g. http://127.0.0.1:2379. */
  readonly url: URL;
  /** CA for an https:// etcd. */
  readonly ca?: Buffer;
  /** Unread bytes one stream may hold; default 256 KiB. */
  readonly streamWindowBytes?: number;
  /** For the proxy's own lookups (lease keys): default 5 s. */
  readonly lookupTimeoutMs?: number;
}

const maxWindow = 2 ** 31 - 1;

export class EtcdUpstream {
  readonly url: URL;
  /** Only for an https:// etcd. */
  readonly ca: Buffer | undefined;
  private session: ClientHttp2Session | undefined;
  private readonly streamWindowBytes: number;
  private readonly lookupTimeoutMs: number;

  constructor(options: EtcdUpstreamOptions) {
    this.url = options.url;
    this.ca = options.url.protocol === 'https:' ? options.ca : undefined;
    this.streamWindowBytes = options.streamWindowBytes ?? 256 * 1024;
    this.lookupTimeoutMs = options.lookupTimeoutMs ?? 5_000;
  }

  /** Opens a call to etcd; gRPC headers are the caller's, minus what etcd must not see. */
  openStream(path: string, headers: OutgoingHttpHeaders): ClientHttp2Stream {
    return this.currentSession().request({ ...headers, ':method': 'POST', ':path': path }, { endStream: false });
  }

  /**
   * A unary call the proxy makes on its own behalf (looking up a lease's
   * keys): the one response message, or an EtcdGrpcError carrying etcd's status.
   */
  unary(path: string, request: Uint8Array): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      let stream: ClientHttp2Stream;
      try {
        stream = this.openStream(path, { 'content-type': 'application/grpc', te: 'trailers' });
      } catch (error) {
        reject(new EtcdGrpcError(GrpcCode.Unavailable, `etcd-warden: cannot reach etcd: ${(error as Error).message}`));
        return;
      }
      const reader = new RequestFrameReader(Number.MAX_SAFE_INTEGER);
      const messages: Buffer[] = [];
      let status: string | undefined;
      let message = '';
      const readStatus = (headers: Record<string, unknown>): void => {
        if (typeof headers['grpc-status'] === 'string') status = headers['grpc-status'];
        if (typeof headers['grpc-message'] === 'string') message = decodeURIComponent(headers['grpc-message']);
      };
      stream.setTimeout(this.lookupTimeoutMs, () => stream.close(constants.NGHTTP2_CANCEL));
      stream.on('response', readStatus);
      stream.on('trailers', readStatus);
      stream.on('data', (chunk: Buffer) => {
        const read = reader.push(chunk);
        if (read instanceof Error) stream.close(constants.NGHTTP2_CANCEL);
        else messages.push(...read);
      });
      stream.on('error', () => undefined);
      stream.on('close', () => {
        const first = messages[0];
        if (status === '0' && first !== undefined) resolve(first);
        else if (status !== undefined && status !== '0') reject(new EtcdGrpcError(grpcCodeOf(Number(status)), message));
        else reject(new EtcdGrpcError(GrpcCode.Unavailable, 'etcd-warden: etcd did not answer a lookup'));
      });
      stream.end(encodeFrame(request));
    });
  }

  /** Ends the connection at once, and every call on it. */
  close(): void {
    this.session?.destroy();
    this.session = undefined;
  }

  /** After a reload to another etcd: calls still open here finish, no new one starts. */
  closeWhenIdle(): void {
    this.session?.close();
    this.session = undefined;
  }

  private currentSession(): ClientHttp2Session {
    const existing = this.session;
    if (existing !== undefined && !existing.closed && !existing.destroyed) return existing;
    const session = connect(this.url.origin, {
      ...(this.ca === undefined ? {} : { ca: this.ca }),
      settings: { initialWindowSize: this.streamWindowBytes, enablePush: false },
    });
    session.on('connect', () => session.setLocalWindowSize(maxWindow));
    // Errors reach each stream on it; the session itself is just replaced.
    session.on('error', () => undefined);
    const forget = (): void => {
      if (this.session === session) this.session = undefined;
    };
    session.on('close', forget);
    session.on('goaway', forget);
    // Idle, it must not keep the process alive; open streams keep it referenced.
    session.unref();
    this.session = session;
    return session;
  }
}
