// Verifies a password against one htpasswd hash. Sync and pure, so the same
// function runs on the main thread (cheap formats) and in verifier workers
// (bcrypt, SHA-crypt). Every comparison of derived bytes is constant-time.
import { createHash, timingSafeEqual } from 'node:crypto';
import aprMd5Export from 'apache-md5';
import bcrypt from 'bcryptjs';
import { verify as verifyShaCrypt } from 'unixcrypt';
import type { HtpasswdEntry } from '../../config/htpasswd.js';

// apache-md5 is CommonJS (`module.exports = fn`) while its typings say
// `export default`, so under NodeNext TypeScript types the default import as
// the module object; at runtime Node hands us the function itself.
type AprMd5 = (password: string, salt?: string) => string;
const aprMd5: AprMd5 = typeof aprMd5Export === 'function' ? aprMd5Export : aprMd5Export.default;

export type HashedPassword = Pick<HtpasswdEntry, 'hash' | 'scheme'>;

/** Cost 10: ~71 ms per check in bcryptjs on our 2-vCPU hosts (research notes §6.1). */
export const BCRYPT_COST = 10;

/** Never throws: a hash that cannot be checked does not verify. */
export function verifyPassword(entry: HashedPassword, password: string): boolean {
  try {
    return verifyByScheme(entry, password);
  } catch {
    return false;
  }
}

function verifyByScheme(entry: HashedPassword, password: string): boolean {
  switch (entry.scheme) {
    case 'bcrypt':
      // bcryptjs treats $2y$ as $2b$ (same algorithm; PHP's name for it), checked
      // against `htpasswd -B` output in the unit tests.
      return bcrypt.compareSync(password, entry.hash);
    case 'apr1':
    case 'md5-crypt':
      return verifyMd5Crypt(entry.hash, password);
    case 'sha256-crypt':
    case 'sha512-crypt':
      // unixcrypt compares with timingSafeEqual itself.
      return verifyShaCrypt(password, entry.hash);
    case 'sha1':
      return verifySha1(entry.hash.slice('{SHA}'.length), password, false);
    case 'ssha':
      return verifySha1(entry.hash.slice('{SSHA}'.length), password, true);
    default: {
      const unreachable: never = entry.scheme;
      throw new Error(`unknown hash scheme ${String(unreachable)}`);
    }
  }
}

function verifyMd5Crypt(hash: string, password: string): boolean {
  // apache-md5 feeds the password to MD5 with the 'ascii' encoding, which
  // keeps only the low byte of each UTF-16 unit: "pässwörd" would not match
  // what htpasswd/openssl wrote. Handing it the UTF-8 bytes as a latin1
  // string makes each char one byte (and `.length` the byte length).
  const computed = aprMd5(Buffer.from(password, 'utf8').toString('latin1'), hash);
  return constantTimeEqual(Buffer.from(computed, 'latin1'), Buffer.from(hash, 'latin1'));
}

function verifySha1(base64: string, password: string, salted: boolean): boolean {
  const stored = Buffer.from(base64, 'base64');
  const salt = salted ? stored.subarray(20) : Buffer.alloc(0);
  const computed = createHash('sha1').update(password, 'utf8').update(salt).digest();
  return constantTimeEqual(computed, stored.subarray(0, 20));
}

function constantTimeEqual(a: Buffer, b: Buffer): boolean {
  // Lengths are fixed by the format (validated when the file was parsed), so
  // an early length check reveals nothing about the password.
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * A bcrypt hash at cost 10 with the `$2y$` prefix that `htpasswd -B` writes.
 * bcryptjs emits `$2b$`; `$2b$` and `$2y$` are the same algorithm, and
 * bcryptjs verifies the rewritten hash (tested), as do Apache and nginx/libxcrypt.
 * Blocks for ~71 ms: for the CLI, not the request path.
 */
export function hashPasswordBcrypt(password: string): string {
  const hash = bcrypt.hashSync(password, BCRYPT_COST);
  return hash.replace(/^\$2[ab]\$/, '$2y$');
}
