// What one client can make the proxy hold: connections, header bytes and
// fields, time to send a request. Node enforces the byte and time bounds in
// its parser; this module adds what Node does not do the way we need:
// - a connection cap that answers etcd-style instead of resetting (Node's own
//   server.maxConnections closes the socket without a word);
// - a header-count bound that refuses (Node's maxHeadersCount silently drops
//   the extra fields, and a dropped Content-Type makes etcd store "");
// - parse errors answered with etcd-shaped bodies, not fastify's.
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { ClientLimits, Timeouts } from '../config/schema.js';
import { EtcdErrorCode, serializeWireError } from '../mirror/etcd/wire-error.js';
import type { ProxyError } from './errors.js';

/** How long a connection over the cap may stay open waiting to send the request we refuse. */
const overCapLingerMs = 2_000;

export function tooManyConnectionsError(limit: number): ProxyError {
  return {
    status: 503,
    headers: { 'retry-after': '1', connection: 'close' },
    body: { errorCode: EtcdErrorCode.RaftInternal, message: 'Too many connections', cause: `This proxy serves at most ${limit} connections at once`, index: 0 },
  };
}

export function headersTooLargeError(cause: string): ProxyError {
  return { status: 431, headers: { connection: 'close' }, body: { errorCode: 0, message: 'Request header fields too large', cause, index: 0 } };
}

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

/** Header fields in a request, from Node's raw list (name, value, name, value…). */
export function headerCount(rawHeaders: readonly string[]): number {
  return rawHeaders.length / 2;
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

// etcd's client port sits behind cmux, whose HTTP/1 matcher reads the request
// line into a 4096-byte buffer (maxHTTPRead): a longer line is reset without
// an answer. Measured on etcd 3.4.23: `PUT /v2/keys/<4072 chars> HTTP/1.1\r\n`
// (4096 bytes) is answered, one byte more is reset. Refusing here gives the
// client a 414 instead of a 502, and keeps upstream-error alerts for outages.
export const etcdMaxRequestLineBytes = 4096;

export function upstreamRequestLineTooLong(method: string, pathAndQuery: string): boolean {
  return Buffer.byteLength(`${method} ${pathAndQuery} HTTP/1.1\r\n`) > etcdMaxRequestLineBytes;
}

export function uriTooLongError(): ProxyError {
  return {
    status: 414,
    body: { errorCode: 0, message: 'URI too long', cause: `etcd reads at most ${etcdMaxRequestLineBytes} bytes of request line`, index: 0 },
  };
}
