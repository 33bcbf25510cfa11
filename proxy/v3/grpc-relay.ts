// The response half of one proxied gRPC call: etcd's headers, messages and
// trailers (grpc-status, grpc-message) passed to the client as they come,
// never buffered, never cut by a timeout of ours. Backpressure both ways:
// a client that stops reading pauses its etcd stream only. A client that
// goes away cancels the etcd stream; an etcd stream that breaks ends the
// call with UNAVAILABLE.
//
// For the watch stream the relay also follows where etcd's messages end
// (ResponseFrameCursor), so the proxy can answer a refused watch creation
// with a message of its own between two of etcd's.
import { constants, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { EtcdGrpcError, GrpcCode, grpcCodeOf, type GrpcCodeNumber } from '../../mirror/etcd/v3/errors.js';
import { ResponseFrameCursor } from './frames.js';

/** gRPC's grpc-message encoding: percent-encode everything outside printable ASCII, and '%'. */
export function encodeGrpcMessage(message: string): string {
  return Array.from(Buffer.from(message, 'utf8'))
    .map((byte) => (byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`))
    .join('');
}

export function statusHeaders(error: EtcdGrpcError): OutgoingHttpHeaders {
  return { 'grpc-status': String(error.code), 'grpc-message': encodeGrpcMessage(error.message) };
}

const grpcResponseHeaders: OutgoingHttpHeaders = { ':status': 200, 'content-type': 'application/grpc' };
// HTTP/2 forbids connection-specific fields; pseudo-headers are set by us.
const notRelayed = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'content-length']);

function relayable(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || (name.startsWith(':') && name !== ':status') || notRelayed.has(name)) continue;
    out[name] = value;
  }
  return out;
}

export class ResponseRelay {
  /** The status the client was (or will be) given. */
  status: GrpcCodeNumber | undefined;
  /** Why the call failed on etcd's side (unreachable, reset, no status), for the log and the upstream-errors metric. */
  upstreamFailure: string | undefined;
  /** Set once the call's end is decided, so a late upstream error cannot replace the status. */
  private ending = false;
  private headersSent = false;
  private trailers: OutgoingHttpHeaders | undefined;
  private upstream: ClientHttp2Stream | undefined;
  private readonly cursor: ResponseFrameCursor | undefined;
  private readonly waiting: Buffer[] = [];

  constructor(
    private readonly client: ServerHttp2Stream,
    options: { readonly injects: boolean },
  ) {
    this.cursor = options.injects ? new ResponseFrameCursor() : undefined;
    client.on('wantTrailers', () => {
      // No status from etcd: its stream broke (etcd stopping does this).
      // UNAVAILABLE is what makes clients retry or watch again.
      if (this.trailers === undefined) this.upstreamFailure = 'etcd ended the call without a status';
      const trailers = this.trailers ?? statusHeaders(new EtcdGrpcError(GrpcCode.Unavailable, 'etcd-warden: etcd ended the call without a status'));
      this.noteStatus(trailers);
      if (!client.destroyed) client.sendTrailers(trailers);
    });
    client.on('close', () => this.upstream?.close(constants.NGHTTP2_CANCEL));
  }

  get clientGone(): boolean {
    return this.client.destroyed || this.client.closed;
  }

  /** Passes etcd's answer on this stream to the client. */
  attach(upstream: ClientHttp2Stream): void {
    this.upstream = upstream;
    upstream.on('response', (headers) => {
      if (headers['grpc-status'] !== undefined) {
        // Trailers-only: etcd answered with a status and nothing else.
        if (this.ending) return;
        if (!this.headersSent) {
          this.ending = true;
          this.finishTrailersOnly(relayable(headers));
        } else this.trailers = statusOnly(headers);
        return;
      }
      this.sendHeaders(relayable(headers));
    });
    upstream.on('data', (chunk: Buffer) => this.relayData(chunk, upstream));
    upstream.on('trailers', (trailers) => {
      this.trailers = relayable(trailers);
    });
    upstream.on('end', () => this.finish());
    upstream.on('error', (error: Error) => this.failUpstream(`lost the call to etcd: ${error.message}`));
    upstream.on('close', () => {
      if (!this.clientGone && !this.ending && upstream.rstCode !== constants.NGHTTP2_NO_ERROR) {
        this.failUpstream(`etcd reset the call (HTTP/2 code ${String(upstream.rstCode)})`);
      }
    });
  }

  /** A whole answer of our own (Authenticate): one message and status OK. */
  answer(frame: Buffer): void {
    if (this.clientGone || this.ending) return;
    this.ending = true;
    this.sendHeaders({});
    this.trailers = { 'grpc-status': String(GrpcCode.Ok) };
    this.client.end(frame);
  }

  /** A whole message of our own (a refused watch), slipped in between etcd's. */
  inject(frame: Buffer): void {
    if (this.clientGone || this.ending) return;
    this.sendHeaders({});
    if (this.cursor === undefined || this.cursor.atBoundary) this.client.write(frame);
    else this.waiting.push(frame);
  }

  /** Ends the call with UNAVAILABLE because etcd could not be reached or broke the call: clients retry that. */
  failUpstream(why: string): void {
    if (this.ending) return;
    this.upstreamFailure = why;
    this.fail(new EtcdGrpcError(GrpcCode.Unavailable, `etcd-warden: ${why}`));
  }

  /** Ends the call with an error status, cancelling etcd's side. */
  fail(error: EtcdGrpcError): void {
    if (this.ending) return;
    this.ending = true;
    this.upstream?.close(constants.NGHTTP2_CANCEL);
    if (this.clientGone) return;
    if (!this.headersSent) {
      this.finishTrailersOnly(statusHeaders(error));
      return;
    }
    this.trailers = statusHeaders(error);
    this.client.end();
  }

  private sendHeaders(extra: OutgoingHttpHeaders): void {
    if (this.headersSent || this.clientGone) return;
    this.headersSent = true;
    this.client.respond({ ...extra, ...grpcResponseHeaders }, { waitForTrailers: true });
  }

  private finishTrailersOnly(headers: OutgoingHttpHeaders): void {
    if (this.clientGone) return;
    this.headersSent = true;
    this.noteStatus(headers);
    this.client.respond({ ...headers, ...grpcResponseHeaders }, { endStream: true });
  }

  private relayData(chunk: Buffer, upstream: ClientHttp2Stream): void {
    if (this.clientGone) return;
    this.sendHeaders({});
    let writable = true;
    if (this.cursor !== undefined && this.waiting.length > 0) {
      const ends = this.cursor.boundariesIn(chunk);
      const first = ends[0];
      if (first === undefined) writable = this.client.write(chunk);
      else {
        this.client.write(chunk.subarray(0, first));
        for (const frame of this.waiting.splice(0)) this.client.write(frame);
        writable = this.client.write(chunk.subarray(first));
      }
    } else {
      this.cursor?.boundariesIn(chunk);
      writable = this.client.write(chunk);
    }
    if (!writable) {
      upstream.pause();
      this.client.once('drain', () => upstream.resume());
    }
  }

  private finish(): void {
    if (this.clientGone || this.ending) return;
    this.ending = true;
    this.sendHeaders({});
    for (const frame of this.waiting.splice(0)) this.client.write(frame);
    this.client.end();
  }

  private noteStatus(headers: OutgoingHttpHeaders): void {
    const status = headers['grpc-status'];
    this.status = grpcCodeOf(typeof status === 'string' || typeof status === 'number' ? Number(status) : GrpcCode.Unknown);
  }
}

function statusOnly(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const name of ['grpc-status', 'grpc-message', 'grpc-status-details-bin']) {
    const value = headers[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}
