// Remembers verified (user, password) pairs so bcrypt runs once per
// credential, not once per request (SPEC §1; research notes §6.2).
//
// What is kept is HMAC-SHA256(processSecret, user ":" password) next to the
// htpasswd hash string it was verified against. The secret is random per
// process, so a heap dump holds no offline-crackable fast hash; a wrong
// password gives a different HMAC and falls through to the full check; an
// entry counts only while the user's current hash is the very same string,
// so a changed password invalidates it even before the reload clears us.
// Only successes are stored: failures are the failure limiter's business.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** HMAC of one presented credential; cheap (~3 µs), computed per request. */
export type CredentialFingerprint = Buffer;

export interface VerifiedCredentialCacheOptions {
  /** Users remembered at most (LRU); default 10,000. */
  maxEntries?: number;
  /** How long a verification counts, from the moment it succeeded; default 15 min. */
  ttlMs?: number;
  now?: () => number;
  /** For tests only; default 32 random bytes per process. */
  secret?: Buffer;
}

interface Entry {
  readonly fingerprint: CredentialFingerprint;
  readonly hash: string;
  readonly expiresAt: number;
}

export class VerifiedCredentialCache {
  readonly maxEntries: number;
  readonly ttlMs: number;
  private readonly now: () => number;
  private readonly secret: Buffer;
  // Map iteration order is insertion order: the first key is the least
  // recently used once hits re-insert their entry.
  private readonly entries = new Map<string, Entry>();

  constructor(options: VerifiedCredentialCacheOptions = {}) {
    this.maxEntries = options.maxEntries ?? 10_000;
    this.ttlMs = options.ttlMs ?? 15 * 60_000;
    this.now = options.now ?? Date.now;
    this.secret = options.secret ?? randomBytes(32);
    if (!Number.isInteger(this.maxEntries) || this.maxEntries < 0) {
      throw new RangeError(`cache size must be an integer >= 0, got ${this.maxEntries}`);
    }
  }

  get size(): number {
    return this.entries.size;
  }

  fingerprint(user: string, password: string): CredentialFingerprint {
    return createHmac('sha256', this.secret).update(`${user}:${password}`, 'utf8').digest();
  }

  /** True when this exact credential was verified against `currentHash` within the TTL. */
  has(user: string, fingerprint: CredentialFingerprint, currentHash: string): boolean {
    if (!this.proven(user, fingerprint, currentHash)) return false;
    const entry = this.entries.get(user);
    // An expired entry stays (until replaced or evicted) as proof for proven().
    if (entry === undefined || this.now() >= entry.expiresAt) return false;
    this.entries.delete(user);
    this.entries.set(user, entry);
    return true;
  }

  /**
   * True when this exact credential was ever verified against `currentHash`,
   * even if the TTL has run out since: the failure limiter must not refuse
   * a credential that is known to be right, only make it be checked again.
   */
  proven(user: string, fingerprint: CredentialFingerprint, currentHash: string): boolean {
    const entry = this.entries.get(user);
    if (entry === undefined) return false;
    if (entry.hash !== currentHash) {
      this.entries.delete(user);
      return false;
    }
    return timingSafeEqual(entry.fingerprint, fingerprint);
  }

  /** Records a successful verification of `fingerprint` against `hash`. */
  remember(user: string, fingerprint: CredentialFingerprint, hash: string): void {
    if (this.maxEntries === 0) return;
    this.entries.delete(user);
    this.entries.set(user, { fingerprint, hash, expiresAt: this.now() + this.ttlMs });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) break;
      this.entries.delete(oldest.value);
    }
  }

  /** Forgets everything. */
  clear(): void {
    this.entries.clear();
  }

  /**
   * On htpasswd reload: keeps only users whose hash is still the very same
   * string. Reloads come with every config-management run, and clearing all
   * would make every running script's credential unproven again, so the
   * failure limiter could refuse it (issue 8).
   */
  retain(stillHolds: (user: string, hash: string) => boolean): void {
    for (const [user, entry] of this.entries) if (!stillHolds(user, entry.hash)) this.entries.delete(user);
  }
}

/**
 * Concurrent checks of the same credential share one run: ten requests that
 * arrive with the same new password cost one bcrypt, not ten.
 */
export class InFlightVerifications {
  private readonly running = new Map<string, Promise<boolean>>();

  get size(): number {
    return this.running.size;
  }

  run(user: string, fingerprint: CredentialFingerprint, hash: string, check: () => Promise<boolean>): Promise<boolean> {
    // The hash is part of the key so a check started against an old file is
    // not handed to a request that must be judged against the new one.
    const key = `${user}\u0000${fingerprint.toString('base64')}\u0000${hash}`;
    const existing = this.running.get(key);
    if (existing !== undefined) return existing;
    const started = check().finally(() => this.running.delete(key));
    this.running.set(key, started);
    return started;
  }
}
