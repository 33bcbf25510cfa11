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
    const entry = this.entries.get(user);
    if (entry === undefined) return false;
    if (this.now() >= entry.expiresAt || entry.hash !== currentHash) {
      this.entries.delete(user);
      return false;
    }
    if (!timingSafeEqual(entry.fingerprint, fingerprint)) return false;
    this.entries.delete(user);
    this.entries.set(user, entry);
    return true;
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

  /** On htpasswd reload: nothing verified against the old file counts any more. */
  clear(): void {
    this.entries.clear();
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
