// Answers "is this the password of this user?" for the request path:
// cache first (µs), then one shared check per credential, off the main
// thread for every format that costs more than a few microseconds.
//
// Rejects (does not resolve false) when the verifier pool is saturated or
// broken: callers answer 503 for a VerifierPoolError, 401 only for `false`.
import { InFlightVerifications, VerifiedCredentialCache } from './credential-cache.js';
import type { HashScheme, HtpasswdEntry, HtpasswdTable } from '../../config/htpasswd.js';
import { verifyPassword, type HashedPassword } from './password-hash.js';
import { VerifierPool } from './verifier-pool.js';

/** Where expensive checks run; the pool in production, a counting fake in tests. */
export type OffThreadVerify = (entry: HashedPassword, password: string) => Promise<boolean>;

export interface CredentialVerifierOptions {
  table: HtpasswdTable;
  /** Verifier worker threads; default 2. */
  poolSize?: number;
  /** Checks waiting for a worker before verify() rejects; default 64. */
  poolMaxQueue?: number;
  /** Remembered credentials (LRU); default 10,000. */
  cacheSize?: number;
  /** How long a verified credential counts; default 15 min. */
  cacheTtlMs?: number;
  now?: () => number;
  /** Replaces the worker pool (tests; no pool is started then). */
  offThreadVerify?: OffThreadVerify;
}

// Cost measured on our 2-vCPU hosts (research notes §6.1, re-measured for
// apr1): {SHA}/{SSHA} ~1 µs, run inline. $apr1$/$1$ take ~0.8 ms: cheap for
// one login but it is a password sprayer's lever on the event loop, so they
// go to the pool, whose bounded queue turns a flood into 503s instead of a
// stalled proxy. bcrypt (~71 ms at cost 10) and SHA-crypt (~10 ms) go there too.
function runsInline(scheme: HashScheme): boolean {
  return scheme === 'sha1' || scheme === 'ssha';
}

// For an empty table only. Made with `htpasswd -nbB -C 10 nobody <random>`;
// nobody knows the password, and the result is thrown away anyway.
const EMPTY_TABLE_DECOY: HashedPassword = {
  scheme: 'bcrypt',
  hash: '$2y$10$OlWk7fNvlAxJ9NRBVWml..pwkb/qOFxrQC4A7Gmfugnd1OEp8Z8zi',
};

export class CredentialVerifier {
  private table: HtpasswdTable;
  private decoy: HashedPassword;
  private readonly cache: VerifiedCredentialCache;
  private readonly inFlight = new InFlightVerifications();
  private readonly pool: VerifierPool | undefined;
  private readonly offThreadVerify: OffThreadVerify;

  constructor(options: CredentialVerifierOptions) {
    this.table = options.table;
    this.decoy = decoyFor(options.table);
    this.cache = new VerifiedCredentialCache({
      maxEntries: options.cacheSize,
      ttlMs: options.cacheTtlMs,
      now: options.now,
    });
    if (options.offThreadVerify !== undefined) {
      this.pool = undefined;
      this.offThreadVerify = options.offThreadVerify;
    } else {
      const pool = new VerifierPool({ size: options.poolSize, maxQueue: options.poolMaxQueue });
      this.pool = pool;
      this.offThreadVerify = (entry, password) => pool.verify(entry, password);
    }
  }

  /** Remembered credentials right now (for metrics). */
  get cachedCredentials(): number {
    return this.cache.size;
  }

  /**
   * True when this password was already verified for this user against the
   * hash the file holds now (µs: one HMAC): such a credential has nothing
   * left to guess, so the failure limiter lets it through (authenticate.ts).
   */
  isProven(user: string, password: string): boolean {
    const entry = this.table.get(user);
    return entry !== undefined && this.cache.proven(user, this.cache.fingerprint(user, password), entry.hash);
  }

  async verify(user: string, password: string): Promise<boolean> {
    const entry = this.table.get(user);
    if (entry === undefined) {
      // An unknown user pays for one check of the table's usual kind, so
      // response time does not tell which user names exist.
      await this.check(this.decoy, password);
      return false;
    }
    const fingerprint = this.cache.fingerprint(user, password);
    if (this.cache.has(user, fingerprint, entry.hash)) return true;
    return this.inFlight.run(user, fingerprint, entry.hash, async () => {
      const verified = await this.check(entry, password);
      // A reload may have landed while the check ran: remember it only if
      // the file still holds the hash it was checked against.
      if (verified && this.table.get(user)?.hash === entry.hash) {
        this.cache.remember(user, fingerprint, entry.hash);
      }
      return verified;
    });
  }

  /** Swaps in a reloaded htpasswd file; a credential verified before counts only if its user's hash is unchanged. */
  replaceTable(table: HtpasswdTable): void {
    this.table = table;
    this.decoy = decoyFor(table);
    this.cache.retain((user, hash) => table.get(user)?.hash === hash);
  }

  async close(): Promise<void> {
    this.cache.clear();
    await this.pool?.close();
  }

  private check(entry: HashedPassword, password: string): Promise<boolean> {
    if (runsInline(entry.scheme)) return Promise.resolve(verifyPassword(entry, password));
    return this.offThreadVerify(entry, password);
  }
}

/**
 * A real hash of the table's most common kind (scheme and cost): an unknown
 * user's check then costs what a known user's does. Its result is discarded.
 */
function decoyFor(table: HtpasswdTable): HashedPassword {
  const counts = new Map<string, { count: number; entry: HtpasswdEntry }>();
  for (const entry of table.values()) {
    const kind = costClass(entry);
    const seen = counts.get(kind);
    if (seen === undefined) counts.set(kind, { count: 1, entry });
    else seen.count++;
  }
  let best: { count: number; entry: HtpasswdEntry } | undefined;
  for (const candidate of counts.values()) {
    if (best === undefined || candidate.count > best.count) best = candidate;
  }
  return best === undefined ? EMPTY_TABLE_DECOY : { scheme: best.entry.scheme, hash: best.entry.hash };
}

function costClass(entry: HtpasswdEntry): string {
  switch (entry.scheme) {
    case 'bcrypt':
      return `bcrypt ${entry.hash.slice(4, 6)}`;
    case 'sha256-crypt':
    case 'sha512-crypt':
      return `${entry.scheme} ${/^\$[56]\$rounds=(\d+)\$/.exec(entry.hash)?.[1] ?? '5000'}`;
    default:
      return entry.scheme;
  }
}
