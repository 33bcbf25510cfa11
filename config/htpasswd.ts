// Reads an htpasswd file into a typed table, once, at load time. Every line
// whose hash we cannot verify is an error naming file, line and user, so a
// bad file is refused at (re)load instead of silently locking a user out, and
// no format is ever compared as plaintext.
//
// Error messages never quote a hash or an unparseable line: an unrecognised
// "hash" is often a plaintext password.
import { readFile } from 'node:fs/promises';
import type { FileSource } from './files.js';

export type HashScheme =
  | 'bcrypt'
  | 'apr1'
  | 'md5-crypt'
  | 'sha256-crypt'
  | 'sha512-crypt'
  | 'sha1'
  | 'ssha';

export interface HtpasswdEntry {
  readonly user: string;
  readonly hash: string;
  readonly scheme: HashScheme;
  /** 1-based line in the file, for messages. */
  readonly line: number;
}

export type HtpasswdTable = ReadonlyMap<string, HtpasswdEntry>;

export type HtpasswdResult =
  | { ok: true; table: HtpasswdTable }
  | { ok: false; errors: string[] };

const USE_BCRYPT = 'use bcrypt (htpasswd -B, or etcd-warden passwd USER)';

// `htpasswd -C` accepts 4..17. Higher is legal bcrypt but a single uncached
// check at cost 18 takes ~18 s in bcryptjs (71 ms at cost 10, x2 per step).
const MAX_BCRYPT_COST = 17;
// glibc/libxcrypt accept up to 999,999,999 rounds; unixcrypt takes ~2 ms per
// 1000 rounds (research notes §6.1), so 1,000,000 rounds is ~2 s per uncached
// check. Anything above would park a verifier worker for minutes.
const MAX_SHA_CRYPT_ROUNDS = 1_000_000;

const B64 = '[./0-9A-Za-z]';
const BCRYPT = new RegExp(`^\\$2[aby]\\$(\\d\\d)\\$${B64}{53}$`);
const MD5_CRYPT = new RegExp(`^\\$(apr1|1)\\$${B64}{0,8}\\$${B64}{22}$`);
const SHA_CRYPT = new RegExp(`^\\$([56])\\$(?:rounds=([1-9][0-9]*)\\$)?${B64}{0,16}\\$(${B64}+)$`);
const RFC2307_BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

type Classified = { ok: true; scheme: HashScheme } | { ok: false; reason: string };

/** Decides what a hash string is, and whether we can verify it. */
export function classifyHash(hash: string): Classified {
  if (/^\$2[aby]\$/.test(hash)) {
    const match = BCRYPT.exec(hash);
    if (match === null) {
      return { ok: false, reason: 'malformed bcrypt hash (expected $2y$NN$ and 53 characters)' };
    }
    const cost = Number(match[1]);
    if (cost < 4 || cost > MAX_BCRYPT_COST) {
      return { ok: false, reason: `bcrypt cost ${cost} is outside 04..${MAX_BCRYPT_COST}` };
    }
    return { ok: true, scheme: 'bcrypt' };
  }
  if (hash.startsWith('$apr1$') || hash.startsWith('$1$')) {
    const match = MD5_CRYPT.exec(hash);
    if (match === null) return { ok: false, reason: 'malformed MD5-crypt hash' };
    return { ok: true, scheme: match[1] === 'apr1' ? 'apr1' : 'md5-crypt' };
  }
  if (hash.startsWith('$5$') || hash.startsWith('$6$')) {
    return classifyShaCrypt(hash);
  }
  if (hash.startsWith('{SHA}')) {
    const digest = decodeRfc2307(hash.slice(5));
    if (digest === undefined || digest.length !== 20) return { ok: false, reason: 'malformed {SHA} hash' };
    return { ok: true, scheme: 'sha1' };
  }
  if (hash.startsWith('{SSHA}')) {
    const digest = decodeRfc2307(hash.slice(6));
    if (digest === undefined || digest.length <= 20) return { ok: false, reason: 'malformed {SSHA} hash' };
    return { ok: true, scheme: 'ssha' };
  }
  return { ok: false, reason: unsupportedReason(hash) };
}

function classifyShaCrypt(hash: string): Classified {
  const match = SHA_CRYPT.exec(hash);
  const name = hash.startsWith('$5$') ? 'SHA-256-crypt' : 'SHA-512-crypt';
  if (match === null) return { ok: false, reason: `malformed ${name} hash` };
  const [, id, rounds, checksum = ''] = match;
  if (checksum.length !== (id === '5' ? 43 : 86)) return { ok: false, reason: `malformed ${name} hash` };
  if (rounds !== undefined) {
    const n = Number(rounds);
    // crypt() writes the rounds it used, clamped to >= 1000, so a smaller
    // figure was not written by crypt() and could not verify.
    if (n < 1000) return { ok: false, reason: `malformed ${name} hash (rounds=${n} < 1000)` };
    if (n > MAX_SHA_CRYPT_ROUNDS) {
      return { ok: false, reason: `${name} rounds=${n} is above ${MAX_SHA_CRYPT_ROUNDS}; ${USE_BCRYPT}` };
    }
  }
  return { ok: true, scheme: id === '5' ? 'sha256-crypt' : 'sha512-crypt' };
}

function decodeRfc2307(text: string): Buffer | undefined {
  if (text.length % 4 !== 0 || !RFC2307_BASE64.test(text)) return undefined;
  return Buffer.from(text, 'base64');
}

function unsupportedReason(hash: string): string {
  const named: ReadonlyArray<readonly [string, string]> = [
    ['$y$', 'yescrypt'],
    ['$gy$', 'gost-yescrypt'],
    ['$7$', 'scrypt'],
    ['$2x$', 'bcrypt with the 2x bug flag'],
    ['$2$', 'original bcrypt'],
    ['$sha1$', 'NetBSD sha1crypt'],
    ['$md5', 'Solaris MD5'],
    ['$3$', 'NT hash'],
  ];
  for (const [prefix, name] of named) {
    if (hash.startsWith(prefix)) return `hash format "${prefix}" (${name}) is not supported; ${USE_BCRYPT}`;
  }
  if (hash.startsWith('{PLAIN}')) {
    return `hash format "{PLAIN}" (plaintext) is refused; ${USE_BCRYPT}`;
  }
  const scheme = /^\{[A-Za-z0-9.-]+\}/.exec(hash);
  if (scheme !== null) return `hash format "${scheme[0]}" is not supported; ${USE_BCRYPT}`;
  if (new RegExp(`^${B64}{13}$`).test(hash)) {
    return `hash looks like DES crypt (htpasswd -d), which is not supported; ${USE_BCRYPT}`;
  }
  if (hash.startsWith('_') && hash.length === 20) {
    return `hash looks like BSDi extended DES crypt, which is not supported; ${USE_BCRYPT}`;
  }
  const id = /^\$[A-Za-z0-9]{1,8}\$/.exec(hash);
  if (id !== null) return `hash format "${id[0]}" is not supported; ${USE_BCRYPT}`;
  if (hash === '') return `empty hash; ${USE_BCRYPT}`;
  return `hash format not recognised (plaintext? it is never compared as such); ${USE_BCRYPT}`;
}

/**
 * Parses htpasswd text. `source` names the file in messages.
 * Like Apache and nginx, a line is `user:hash[:ignored...]`; blank lines and
 * lines starting with `#` are skipped; CRLF is accepted.
 */
export function parseHtpasswd(text: string, source: string): HtpasswdResult {
  const table = new Map<string, HtpasswdEntry>();
  const firstLineOf = new Map<string, number>();
  const errors: string[] = [];
  const lines = text.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const lineNumber = index + 1;
    const line = (lines[index] ?? '').replace(/\r$/, '').trim();
    if (line === '' || line.startsWith('#')) continue;
    const where = `htpasswd ${source} line ${lineNumber}`;
    const colon = line.indexOf(':');
    if (colon < 0) {
      errors.push(`${where}: expected "user:hash", found no colon`);
      continue;
    }
    const user = line.slice(0, colon);
    if (user === '') {
      errors.push(`${where}: empty user name`);
      continue;
    }
    const rest = line.slice(colon + 1);
    const nextColon = rest.indexOf(':');
    const hash = nextColon < 0 ? rest : rest.slice(0, nextColon);
    const firstLine = firstLineOf.get(user);
    if (firstLine !== undefined) {
      errors.push(`${where}: user "${user}" appears again (first on line ${firstLine})`);
      continue;
    }
    firstLineOf.set(user, lineNumber);
    const classified = classifyHash(hash);
    if (!classified.ok) {
      errors.push(`${where}: user "${user}": ${classified.reason}`);
      continue;
    }
    table.set(user, { user, hash, scheme: classified.scheme, line: lineNumber });
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, table };
}

/** Reads and parses an htpasswd file; a read error is returned, not thrown. */
export async function loadHtpasswd(path: string, read: FileSource = readFile): Promise<HtpasswdResult> {
  let text: string;
  try {
    text = (await read(path)).toString('utf8');
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return { ok: false, errors: [`htpasswd ${path}: cannot read the file: ${reason}`] };
  }
  return parseHtpasswd(text, path);
}
