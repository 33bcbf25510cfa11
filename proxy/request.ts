// Parse once: the raw request line becomes a typed EtcdRequest, and every
// later decision (read-only, ACL, auth) works on that value, never on the raw
// URL again. Modelled on etcd's parseKeyRequest (v2http/client.go).
import { cleanPath } from '../mirror/etcd/keys.js';
import { decodePath, encodePath, muxCanonicalPath } from './path.js';

export type HttpMethod = 'GET' | 'HEAD' | 'OPTIONS' | 'PUT' | 'POST' | 'DELETE' | 'PATCH';

/** Methods that never change state; every other method is treated as a write. */
export function isReadMethod(method: string): boolean {
  return method === 'GET' || method === 'HEAD' || method === 'OPTIONS';
}

/** What the request addresses, once decoded and cleaned exactly as etcd would. */
export type EtcdRequest = KeysRequest | EndpointRequest;

interface CommonRequest {
  readonly method: string;
  /** Raw query string without the `?`, forwarded untouched (etcd parses it). */
  readonly query: string;
  /** Path to send upstream, built from the decoded path, never the raw URL. */
  readonly upstreamPath: string;
}

export interface KeysRequest extends CommonRequest {
  readonly kind: 'keys';
  /** The key etcd will act on: decoded, cleaned, no trailing slash; `/` for the root. */
  readonly key: string;
  /** A long-poll (`wait=true`) or streaming watch: no response timeout applies. */
  readonly watch: boolean;
}

export interface EndpointRequest extends CommonRequest {
  readonly kind: 'endpoint';
  /** The decoded, canonical path, e.g. `/v2/members` or `/v3/kv/put`. */
  readonly path: string;
}

/** A request the proxy answers itself, without consulting etcd. */
export type EarlyAnswer =
  | { readonly kind: 'bad-request'; readonly reason: string }
  | { readonly kind: 'redirect'; readonly location: string };

export type ParsedRequest = { readonly ok: true; readonly request: EtcdRequest } | { readonly ok: false; readonly answer: EarlyAnswer };

const keysPrefix = '/v2/keys';

// strconv.ParseBool, which etcd uses for `wait` and `stream`.
const goTrue = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);

export function parseEtcdRequest(method: string, rawTarget: string, hasUpgrade: boolean): ParsedRequest {
  if (hasUpgrade) {
    // A GET upgraded to a WebSocket reaches etcd's v3 gateway as a POST and
    // wrote a key in our tests (research finding H). Nothing here needs one.
    return bad('Upgrade requests are not accepted by this proxy');
  }
  if (!rawTarget.startsWith('/')) {
    return bad('the request target must be a path (absolute-form and authority-form targets are refused)');
  }
  if (rawTarget.includes('#')) {
    return bad('a "#" in the request target must be percent-encoded');
  }
  const queryStart = rawTarget.indexOf('?');
  const rawPath = queryStart === -1 ? rawTarget : rawTarget.slice(0, queryStart);
  const query = queryStart === -1 ? '' : rawTarget.slice(queryStart + 1);

  const decoded = decodePath(rawPath);
  if (!decoded.ok) return bad(decoded.reason);

  const canonical = muxCanonicalPath(decoded.path);
  if (canonical !== decoded.path) {
    // Go's ServeMux answers a non-canonical path (`..`, `.`, `//`, however
    // spelled) with 301 to the cleaned path and runs no handler, for every
    // method. We answer the same, so nothing is ever executed on a path the
    // ACL did not see.
    return { ok: false, answer: { kind: 'redirect', location: encodePath(canonical) + (query === '' ? '' : '?' + query) } };
  }

  if (canonical === keysPrefix || canonical.startsWith(keysPrefix + '/')) {
    // etcd: path.Join("/1", path[len("/v2/keys"):]), so the trailing slash goes.
    const key = cleanPath(canonical.slice(keysPrefix.length));
    const watch = method === 'GET' && query !== '' && goTrue.has(new URLSearchParams(query).get('wait') ?? '');
    return {
      ok: true,
      request: { kind: 'keys', method, key, watch, query, upstreamPath: encodePath(keysPrefix + (key === '/' ? '/' : key)) },
    };
  }
  return { ok: true, request: { kind: 'endpoint', method, path: canonical, query, upstreamPath: encodePath(canonical) } };
}

function bad(reason: string): ParsedRequest {
  return { ok: false, answer: { kind: 'bad-request', reason } };
}

/**
 * What the access log shows of a request that could not be parsed: the raw
 * target without a fragment, its query apart (so `value=` is redacted like
 * any other), and the userinfo of an absolute-form or `//` target replaced.
 * Found by the secrets test: `PUT http://root:pw@host/…?value=…` logged both.
 */
export function loggableTarget(rawTarget: string): { readonly target: string; readonly query: string } {
  const withoutFragment = rawTarget.split('#', 1)[0] ?? '';
  const queryStart = withoutFragment.indexOf('?');
  let target = queryStart === -1 ? withoutFragment : withoutFragment.slice(0, queryStart);
  const query = queryStart === -1 ? '' : withoutFragment.slice(queryStart + 1);
  if (!target.startsWith('/') || target.startsWith('//')) target = target.replace(/^([^/]*\/\/)?[^/]*@/, (_match, scheme: string | undefined) => `${scheme ?? ''}[redacted]@`);
  return { target, query };
}
