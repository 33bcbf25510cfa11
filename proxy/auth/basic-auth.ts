// Parses an Authorization header once into a typed value (RFC 7617).
export type BasicAuthorization =
  | { kind: 'none' }
  | { kind: 'malformed' }
  | { kind: 'credentials'; user: string; password: string };

const BASIC = /^basic(?: +(.*))?$/is;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * `none`: no header, or another scheme (Bearer, Digest) — there are no basic
 * credentials to check. `malformed`: "Basic" with something that is not
 * base64 of UTF-8 `user:password`. The password is everything after the
 * first colon, so it may itself contain colons; the user cannot (RFC 7617).
 */
export function parseBasicAuthorization(header: string | undefined): BasicAuthorization {
  if (header === undefined) return { kind: 'none' };
  const value = header.trim();
  if (value === '') return { kind: 'none' };
  const match = BASIC.exec(value);
  if (match === null) {
    // "Basicxyz" is not another scheme, it is a broken Basic header.
    return /^basic/i.test(value) ? { kind: 'malformed' } : { kind: 'none' };
  }
  const token = (match[1] ?? '').trim();
  // Buffer.from(…, 'base64') skips characters it does not know; validate
  // first so "Basic !!!" is malformed rather than an empty credential.
  if (token === '' || token.length % 4 !== 0 || !BASE64.test(token)) return { kind: 'malformed' };
  let decoded: string;
  try {
    decoded = utf8.decode(Buffer.from(token, 'base64'));
  } catch {
    return { kind: 'malformed' };
  }
  const colon = decoded.indexOf(':');
  if (colon < 0) return { kind: 'malformed' };
  return { kind: 'credentials', user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
