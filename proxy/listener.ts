// What Node's listener enforces for us, and how its refusals are answered:
// header bytes and time to send a request (Node's parser), a connection cap
// that answers etcd-style instead of resetting (Node's own
// server.maxConnections closes the socket without a word), and parse errors
// answered with etcd-shaped bodies, not Node's bare 400. The per-request limits
// are a decision stage (limits.ts).
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { ClientLimits, Timeouts } from '../config/schema.js';
import { EtcdErrorCode, serializeWireError } from '../mirror/etcd/wire-error.js';

/** How long a connection over the cap may stay open waiting to send the request we refuse. */
const overCapLingerMs = 2_000;

/** Node server options derived from the limits (fixed for the life of the listener). */
export function serverLimitOptions(limits: ClientLimits, timeouts: Timeouts): { maxHeaderSize: number; connectionsCheckingInterval: number } {
  return {
    maxHeaderSize: limits.maxHeaderBytes,
    // Node checks headersTimeout/requestTimeout only on this tick (default
    // 30 s), so a 30 s headers timeout could hold a slowloris socket for 60 s.
    connectionsCheckingInterval: Math.max(100, Math.min(1_000, Math.floor(Math.min(timeouts.clientHeadersMs, timeouts.clientRequestMs) / 4))),
  };
}

/**
 * Counts open client connections from the moment TCP is accepted (before any
 * TLS handshake). A connection over the cap is remembered by its address and
 * port (the same for the raw socket and the TLS socket over it), answered
 * 503 on its first request, never forwarded, and closed after a short linger
 * if it sends nothing.
 */
export class ConnectionCap {
  private open = 0;
  private readonly refused = new Set<string>();

  constructor(private readonly limit: () => number) {}

  get size(): number {
    return this.open;
  }

  admit(socket: Socket): void {
    this.open += 1;
    const id = socketId(socket);
    let timer: NodeJS.Timeout | undefined;
    if (this.open > this.limit() && id !== undefined) {
      this.refused.add(id);
      timer = setTimeout(() => socket.destroy(), overCapLingerMs);
      timer.unref();
    }
    socket.once('close', () => {
      this.open -= 1;
      if (id !== undefined) this.refused.delete(id);
      clearTimeout(timer);
    });
  }

  refuses(socket: Socket): boolean {
    const id = socketId(socket);
    return id !== undefined && this.refused.has(id);
  }
}

function socketId(socket: Socket): string | undefined {
  if (socket.remoteAddress === undefined || socket.remotePort === undefined) return undefined;
  return `${socket.remoteAddress}|${socket.remotePort}`;
}

/**
 * Answers what Node's parser refuses before any request object exists
 * (oversized headers, a bad request line, a slow client) with an etcd-shaped
 * body, then closes: after a parse error the connection's framing is unknown.
 */
export function answerClientError(error: Error & { code?: string }, socket: Socket, limits: ClientLimits): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  let status = 400;
  let cause = 'The request could not be parsed as HTTP/1.1';
  if (error.code === 'HPE_HEADER_OVERFLOW') {
    status = 431;
    cause = `The request line and headers may hold at most ${limits.maxHeaderBytes} bytes`;
  } else if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    status = 408;
    cause = 'The request was not received in time';
  }
  const body = serializeWireError({ errorCode: status === 400 ? EtcdErrorCode.InvalidForm : 0, message: STATUS_CODES[status] ?? 'Bad Request', cause, index: 0 }) + '\n';
  // As Node's own handler: only on a connection that has not answered
  // anything yet, or the bytes would land in the middle of a response.
  if (socket.writable && socket.bytesWritten === 0) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}
