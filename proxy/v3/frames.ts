// gRPC's message framing over HTTP/2 (PROTOCOL-HTTP2.md): each message is a
// 1-byte compressed flag, a 4-byte big-endian length, then the bytes.
//
// Requests are read whole, one message at a time, because we decide on the
// decoded message; each is bounded by maxMessageBytes. Responses are never
// read whole: ResponseFrameCursor only counts bytes to know where one
// message ends, so a 13 MiB watch response streams through as it arrives.
import { EtcdGrpcError, GrpcCode } from '../../mirror/etcd/v3/errors.js';

export const frameHeaderBytes = 5;

// etcd's default --max-request-bytes (1.5 MiB) plus the 512 KiB its gRPC
// server allows on top (grpcOverheadBytes in etcd's v3rpc/grpc.go): a larger
// message would be refused by etcd anyway.
export const defaultMaxRequestMessageBytes = 1.5 * 1024 * 1024 + 512 * 1024;

export function encodeFrame(message: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(frameHeaderBytes + message.length);
  frame[0] = 0;
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, frameHeaderBytes);
  return frame;
}

/** Cuts a request stream into messages. */
export class RequestFrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(private readonly maxMessageBytes: number = defaultMaxRequestMessageBytes) {}

  /** Bytes received that do not yet make a whole message. */
  get pendingBytes(): number {
    return this.buffered;
  }

  /** The messages this chunk completes; an error ends the call. */
  push(chunk: Buffer): Buffer[] | EtcdGrpcError {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const messages: Buffer[] = [];
    while (this.buffered >= frameHeaderBytes) {
      const header = this.peek(frameHeaderBytes);
      const flag = header[0];
      const length = header.readUInt32BE(1);
      // Compressed messages would need a decompressor we do not run on
      // untrusted input; etcd's clients do not compress unless asked to.
      if (flag === 1) {
        return new EtcdGrpcError(GrpcCode.Unimplemented, 'etcd-warden: compressed gRPC messages are not accepted (send them uncompressed, the default of etcd clients)');
      }
      if (flag !== 0) return new EtcdGrpcError(GrpcCode.Internal, `grpc: invalid message flag ${String(flag)}`);
      if (length > this.maxMessageBytes) {
        return new EtcdGrpcError(GrpcCode.ResourceExhausted, `grpc: received message larger than max (${length} vs. ${this.maxMessageBytes})`);
      }
      if (this.buffered < frameHeaderBytes + length) break;
      messages.push(this.take(frameHeaderBytes + length).subarray(frameHeaderBytes));
    }
    return messages;
  }

  private peek(bytes: number): Buffer {
    const first = this.chunks[0];
    if (first !== undefined && first.length >= bytes) return first.subarray(0, bytes);
    this.chunks = [Buffer.concat(this.chunks)];
    return (this.chunks[0] ?? Buffer.alloc(0)).subarray(0, bytes);
  }

  private take(bytes: number): Buffer {
    const joined = this.chunks.length === 1 ? (this.chunks[0] ?? Buffer.alloc(0)) : Buffer.concat(this.chunks);
    const taken = joined.subarray(0, bytes);
    const rest = joined.subarray(bytes);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered = rest.length;
    return taken;
  }
}

/**
 * Follows where response messages end without holding them, so a message
 * of our own can be slipped in between two of etcd's.
 */
export class ResponseFrameCursor {
  private headerSeen = Buffer.alloc(0);
  private bodyLeft = 0;

  /** True when no message is half-way through. */
  get atBoundary(): boolean {
    return this.bodyLeft === 0 && this.headerSeen.length === 0;
  }

  /** Offsets in `chunk` right after which a message ends. */
  boundariesIn(chunk: Buffer): number[] {
    const ends: number[] = [];
    let offset = 0;
    while (offset < chunk.length) {
      if (this.bodyLeft > 0) {
        const step = Math.min(this.bodyLeft, chunk.length - offset);
        this.bodyLeft -= step;
        offset += step;
        if (this.bodyLeft === 0) ends.push(offset);
        continue;
      }
      const need = frameHeaderBytes - this.headerSeen.length;
      const part = chunk.subarray(offset, offset + need);
      this.headerSeen = Buffer.concat([this.headerSeen, part]);
      offset += part.length;
      if (this.headerSeen.length === frameHeaderBytes) {
        this.bodyLeft = this.headerSeen.readUInt32BE(1);
        this.headerSeen = Buffer.alloc(0);
        if (this.bodyLeft === 0) ends.push(offset);
      }
    }
    return ends;
  }
}
