// How etcd (Go's net/http + etcd's v2http) turns a request path into a key,
// reproduced so the proxy decides on the key etcd will act on. Evidence for
// every rule here: research/etcd-v2-notes.md §1.
import { cleanPath } from '../mirror/etcd/keys.js';

export type PathDecoding =
  | { readonly ok: true; readonly path: string }
  | { readonly ok: false; readonly reason: string };

const plainPath = /^[\x21-\x24\x26-\x7e]*$/;

/**
 * Percent-decodes a raw path once, as Go's url.ParseRequestURI does
 * (`%2F` becomes `/`, `%2e` becomes `.`). Go accepts invalid UTF-8 and stores
 * raw bytes; a JavaScript string cannot represent those faithfully, so they
 * are refused rather than guessed at. Control characters are refused too:
 * no production key holds one and they only serve to confuse logs and ACLs.
 */
export function decodePath(rawPath: string): PathDecoding {
  // Most paths are plain visible ASCII without an escape: nothing to decode.
  if (plainPath.test(rawPath)) return { ok: true, path: rawPath };
  const bytes: number[] = [];
  for (let i = 0; i < rawPath.length; i++) {
    const code = rawPath.charCodeAt(i);
    if (code === 0x25 /* % */) {
      const hex = rawPath.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) {
        return { ok: false, reason: `invalid percent escape "${rawPath.slice(i, i + 3)}" in the path` };
      }
      bytes.push(Number.parseInt(hex, 16));
      i += 2;
    } else if (code > 0x7e || code < 0x21) {
      // Node's HTTP parser only lets visible ASCII through in a request target.
      return { ok: false, reason: 'the path holds a character that must be percent-encoded' };
    } else {
      bytes.push(code);
    }
  }
  let decoded: string;
  try {
    decoded = new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bytes));
  } catch {
    return { ok: false, reason: 'the decoded path is not valid UTF-8' };
  }
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(decoded)) {
    return { ok: false, reason: 'the decoded path holds a control character' };
  }
  return { ok: true, path: decoded };
}

/**
 * The path Go's http.ServeMux considers canonical: path.Clean, but a trailing
 * slash is kept. When a request's decoded path differs from this, the mux
 * answers 301 to it for every method and etcd never sees the request.
 */
export function muxCanonicalPath(path: string): string {
  const cleaned = cleanPath(path);
  if (path.endsWith('/') && cleaned !== '/') return cleaned + '/';
  return cleaned;
}

// Unreserved characters and "/": what encodePath leaves as it is.
const unreservedPath = /^[A-Za-z0-9\-._~/]*$/;

/**
 * Encodes a decoded path for the upstream request line so that nothing on the
 * way (undici, WHATWG URL parsing) can reinterpret it: every byte outside
 * the unreserved set is percent-encoded, `/` stays the only separator.
 * `\` becomes `%5C`, so it cannot turn into a `/` (research finding B).
 */
export function encodePath(path: string): string {
  if (unreservedPath.test(path)) return path;
  return path
    .split('/')
    .map((segment) => encodeURIComponent(segment).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase()))
    .join('/');
}
