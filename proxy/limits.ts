// Stage 0 of the request decision: what one request may ask of the proxy
// before anything else is looked at. The connection cap is counted by the
// listener (listener.ts) and only read here; header fields are counted here
// because Node's maxHeadersCount silently drops the extra fields (and a
// dropped Content-Type makes etcd store "").
import type { ClientLimits } from '../config/schema.js';
import { EtcdErrorCode } from '../mirror/etcd/wire-error.js';
import type { ProxyError } from './errors.js';

export interface LimitRefusal {
  readonly error: ProxyError;
  /** For the access log. */
  readonly reason: string;
}

/** What the limits look at, read off the raw request before it is parsed. */
export interface RequestSize {
  /** The connection was accepted over limits.maxConnections. */
  readonly overConnectionCap: boolean;
  readonly headerCount: number;
}

export function connectionAndHeaderLimits(request: RequestSize, limits: ClientLimits): LimitRefusal | undefined {
  if (request.overConnectionCap) {
    return { error: tooManyConnectionsError(limits.maxConnections), reason: `over limits.maxConnections (${limits.maxConnections})` };
  }
  if (request.headerCount > limits.maxHeaderCount) {
    return { error: headersTooLargeError(`At most ${limits.maxHeaderCount} header fields are accepted`), reason: `over limits.maxHeaderCount (${limits.maxHeaderCount})` };
  }
  return undefined;
}

/** Header fields in a request, from Node's raw list (name, value, name, value…). */
export function headerCount(rawHeaders: readonly string[]): number {
  return rawHeaders.length / 2;
}

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

/** A declared Content-Length over the limit is refused before anything is forwarded (body-limit.ts stops the rest). */
export function declaredLengthExceeds(contentLength: string | undefined, limitBytes: number): boolean {
  return contentLength !== undefined && Number(contentLength) > limitBytes;
}
