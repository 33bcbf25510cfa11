// Every error the proxy answers itself, in one vocabulary: an etcd-style wire
// body (so python-etcd, confd and etcdctl raise the exception they already
// know) plus the HTTP status and extra headers. One writer: respond.ts.
import { EtcdErrorCode, type EtcdWireError } from '../mirror/etcd/wire-error.js';

export interface ProxyError {
  readonly status: number;
  readonly body: EtcdWireError;
  readonly headers?: Readonly<Record<string, string>>;
}

// Byte-compatible with the nginx setup it replaces.
export function readOnlyError(): ProxyError {
  return {
    status: 403,
    body: { errorCode: EtcdErrorCode.RootReadOnly, message: 'This cluster is in read-only mode', cause: 'Cluster configured to be read-only', index: 0 },
  };
}

export function unauthorizedError(): ProxyError {
  return {
    status: 401,
    headers: { 'www-authenticate': 'Basic realm="etcd"' },
    body: { errorCode: EtcdErrorCode.Unauthorized, message: 'The request requires user authentication', cause: 'Insufficient credentials', index: 0 },
  };
}

export function forbiddenError(cause: string): ProxyError {
  return { status: 403, body: { errorCode: EtcdErrorCode.Unauthorized, message: 'The request is not allowed by this proxy', cause, index: 0 } };
}

export function tooManyFailuresError(retryAfterSeconds: number): ProxyError {
  return {
    status: 429,
    headers: { 'retry-after': String(retryAfterSeconds) },
    body: { errorCode: EtcdErrorCode.Unauthorized, message: 'Too many failed authentication attempts', cause: `Retry after ${retryAfterSeconds} s`, index: 0 },
  };
}

export function badRequestError(cause: string): ProxyError {
  return { status: 400, body: { errorCode: EtcdErrorCode.InvalidForm, message: 'Bad request', cause, index: 0 } };
}

export function notFoundError(path: string): ProxyError {
  return { status: 404, body: { errorCode: 0, message: 'Not found', cause: `${path} is not an etcd endpoint served by this proxy`, index: 0 } };
}

export function methodNotAllowedError(method: string, allowed: readonly string[]): ProxyError {
  return {
    status: 405,
    headers: { allow: allowed.join(',') },
    body: { errorCode: 0, message: 'Method Not Allowed', cause: `${method} is not supported here`, index: 0 },
  };
}

export function payloadTooLargeError(limitBytes: number): ProxyError {
  return { status: 413, body: { errorCode: 0, message: 'Request body too large', cause: `The limit is ${limitBytes} bytes`, index: 0 } };
}

// Anyone may read, so these bodies name no internal address and no socket
// error (an unreachable etcd's cause once read "http://127.0.0.1:2379:
// connect ECONNREFUSED …"); the access log line keeps those details.
export function upstreamUnavailableError(): ProxyError {
  return { status: 502, body: { errorCode: EtcdErrorCode.RaftInternal, message: 'etcd member unavailable', cause: 'etcd member unavailable', index: 0 } };
}

export function upstreamTimeoutError(): ProxyError {
  return { status: 504, body: { errorCode: EtcdErrorCode.RaftInternal, message: 'etcd member did not answer in time', cause: 'etcd member did not answer in time', index: 0 } };
}

export function serviceUnavailableError(cause: string): ProxyError {
  return { status: 503, body: { errorCode: EtcdErrorCode.RaftInternal, message: 'The proxy cannot serve this request now', cause, index: 0 } };
}
