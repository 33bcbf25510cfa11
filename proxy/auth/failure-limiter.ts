// Slows repeated authentication failures (SPEC §1). It judges only
// verifications of credentials not yet proven: authenticate.ts lets a
// credential the proxy already verified through without asking (there is
// nothing left to guess), so a neighbour guessing from the same host cannot
// lock out a script that is already writing (issue 8: 0 of 40 writes in 20 s).
//
// Failures are counted over a sliding window in two ways:
// - per client address, each attributed to the user it tried. A sprayer
//   guessing alice's password from one host is slowed to maxFailures per
//   window there, and cannot lock alice out of her own host. A success
//   forgives only that user's failures from that address, so a
//   typo-then-correct login starts clean, while an attacker holding one
//   valid account cannot launder guesses at other users.
// - per user, across addresses, so guessing one user's password from many
//   addresses is slowed too (maxFailuresPerUser, three times the per-address
//   limit: more than one host can manage alone). Not forgiven by a success.
//
// Memory is bounded under address or user-name spraying: at most
// maxTrackedClients addresses and maxTrackedUsers users (least recently
// failing evicted first), each with at most its limit of timestamps. IPv6
// clients are tracked per /64, the block one host or customer is normally
// handed, so rotating the low 64 bits does not reset.
import { isIPv6 } from 'node:net';

export interface FailedAuthLimiterOptions {
  /** Failures per window before an address is refused; default 10. */
  maxFailures?: number;
  /** Failures per window for one user, from any address, before that user's unproven logins are refused; default 30. */
  maxFailuresPerUser?: number;
  /** Sliding window length; default 60 s. */
  windowMs?: number;
  /** Addresses tracked at most; default 10,000. */
  maxTrackedClients?: number;
  /** Users tracked at most; default 10,000. */
  maxTrackedUsers?: number;
  now?: () => number;
}

export type LimitDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number };

/**
 * The limit as the request path asks it: this process's FailedAuthLimiter,
 * or, with several proxy processes, the one their primary holds, so the
 * limit stays one limit and never becomes one per process (proxy/cluster/).
 */
export interface FailedLoginLimit {
  check(clientAddress: string, user: string): LimitDecision | Promise<LimitDecision>;
  recordFailure(clientAddress: string, user: string): void;
  recordSuccess(clientAddress: string, user: string): void;
}

interface Failure {
  readonly at: number;
  readonly user: string;
}

export class FailedAuthLimiter implements FailedLoginLimit {
  readonly maxFailures: number;
  readonly maxFailuresPerUser: number;
  readonly windowMs: number;
  readonly maxTrackedClients: number;
  readonly maxTrackedUsers: number;
  private readonly now: () => number;
  // Insertion order = order of most recent failure; the first key is evicted.
  private readonly failuresByClient = new Map<string, Failure[]>();
  private readonly failuresByUser = new Map<string, Failure[]>();

  constructor(options: FailedAuthLimiterOptions = {}) {
    this.maxFailures = options.maxFailures ?? 10;
    this.maxFailuresPerUser = options.maxFailuresPerUser ?? 3 * this.maxFailures;
    this.windowMs = options.windowMs ?? 60_000;
    this.maxTrackedClients = options.maxTrackedClients ?? 10_000;
    this.maxTrackedUsers = options.maxTrackedUsers ?? 10_000;
    this.now = options.now ?? Date.now;
    for (const [name, value] of [
      ['maxFailures', this.maxFailures],
      ['maxFailuresPerUser', this.maxFailuresPerUser],
      ['windowMs', this.windowMs],
      ['maxTrackedClients', this.maxTrackedClients],
      ['maxTrackedUsers', this.maxTrackedUsers],
    ] as const) {
      if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be an integer >= 1, got ${value}`);
    }
  }

  /** Addresses with failures in memory (for metrics and tests). */
  get trackedClients(): number {
    return this.failuresByClient.size;
  }

  /** Users with failures in memory (for metrics and tests). */
  get trackedUsers(): number {
    return this.failuresByUser.size;
  }

  /** Call before verifying a credential not yet proven. */
  check(clientAddress: string, user: string): LimitDecision {
    const waits = [
      this.waitMs(this.failuresByClient, clientKey(clientAddress), this.maxFailures),
      user === '' ? 0 : this.waitMs(this.failuresByUser, user, this.maxFailuresPerUser),
    ];
    const waitMs = Math.max(...waits);
    if (waitMs <= 0) return { allowed: true };
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) };
  }

  recordFailure(clientAddress: string, user: string): void {
    const failure = { at: this.now(), user };
    this.record(this.failuresByClient, clientKey(clientAddress), failure, this.maxFailures, this.maxTrackedClients);
    // A malformed header names no user.
    if (user !== '') this.record(this.failuresByUser, user, failure, this.maxFailuresPerUser, this.maxTrackedUsers);
  }

  recordSuccess(clientAddress: string, user: string): void {
    const client = clientKey(clientAddress);
    const failures = this.recentFailures(this.failuresByClient, client);
    if (failures === undefined) return;
    const others = failures.filter((failure) => failure.user !== user);
    if (others.length === 0) this.failuresByClient.delete(client);
    else this.failuresByClient.set(client, others);
  }

  /** How long until `key` may try again (<= 0: now); refused until its oldest failure in the window ages out. */
  private waitMs(failuresByKey: Map<string, Failure[]>, key: string, limit: number): number {
    const failures = this.recentFailures(failuresByKey, key);
    if (failures === undefined || failures.length < limit) return 0;
    const oldest = failures[0]?.at ?? this.now();
    return oldest + this.windowMs - this.now();
  }

  private record(failuresByKey: Map<string, Failure[]>, key: string, failure: Failure, limit: number, maxTracked: number): void {
    const failures = this.recentFailures(failuresByKey, key) ?? [];
    failures.push(failure);
    // Callers stop verifying once refused, but keep memory bounded anyway.
    if (failures.length > limit) failures.splice(0, failures.length - limit);
    failuresByKey.delete(key);
    failuresByKey.set(key, failures);
    while (failuresByKey.size > maxTracked) {
      const oldest = failuresByKey.keys().next();
      if (oldest.done === true) break;
      failuresByKey.delete(oldest.value);
    }
  }

  /** The key's failures still inside the window; forgets the key when none are. */
  private recentFailures(failuresByKey: Map<string, Failure[]>, key: string): Failure[] | undefined {
    const failures = failuresByKey.get(key);
    if (failures === undefined) return undefined;
    const horizon = this.now() - this.windowMs;
    const firstRecent = failures.findIndex((failure) => failure.at > horizon);
    if (firstRecent < 0) {
      failuresByKey.delete(key);
      return undefined;
    }
    if (firstRecent > 0) failures.splice(0, firstRecent);
    return failures;
  }
}

/** IPv4 (also when IPv4-mapped) as is; IPv6 by its /64 prefix. */
export function clientKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped?.[1] !== undefined) return mapped[1];
  const withoutZone = address.replace(/%.*$/, '');
  if (!isIPv6(withoutZone)) return address;
  const groups = expandIPv6(withoutZone);
  return `${groups.slice(0, 4).join(':')}::/64`;
}

function expandIPv6(address: string): string[] {
  // An embedded IPv4 tail (::1.2.3.4) fills the last two groups; only the
  // first four matter for the /64 key, so it just has to count as two.
  const text = address.replace(/\d+\.\d+\.\d+\.\d+$/, '0:0');
  const [head = '', tail] = text.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const missing = 8 - headGroups.length - tailGroups.length;
  const zeros = tail === undefined ? [] : Array.from({ length: missing }, () => '0');
  return [...headGroups, ...zeros, ...tailGroups].map((group) => group.toLowerCase().replace(/^0+(?=.)/, ''));
}
