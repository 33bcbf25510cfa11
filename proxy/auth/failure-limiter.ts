// Slows repeated authentication failures from one client (SPEC §1).
//
// Failures are counted per client address over a sliding window, each one
// attributed to the user it tried. The limit is per address, never per user
// alone: a sprayer guessing alice's password from one host cannot lock
// alice out of her own host. A success forgives only that user's failures
// from that address, so a typo-then-correct login starts clean, while an
// attacker holding one valid account cannot launder guesses at other users.
//
// Memory is bounded under address spraying: at most maxTrackedClients
// addresses (least recently failing evicted first), at most maxFailures
// timestamps each. IPv6 clients are tracked per /64, the block one host or
// customer is normally handed, so rotating the low 64 bits does not reset.
import { isIPv6 } from 'node:net';

export interface FailedAuthLimiterOptions {
  /** Failures per window before an address is refused; default 10. */
  maxFailures?: number;
  /** Sliding window length; default 60 s. */
  windowMs?: number;
  /** Addresses tracked at most; default 10,000. */
  maxTrackedClients?: number;
  now?: () => number;
}

export type LimitDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number };

interface Failure {
  readonly at: number;
  readonly user: string;
}

export class FailedAuthLimiter {
  readonly maxFailures: number;
  readonly windowMs: number;
  readonly maxTrackedClients: number;
  private readonly now: () => number;
  // Insertion order = order of most recent failure; the first key is evicted.
  private readonly failuresByClient = new Map<string, Failure[]>();

  constructor(options: FailedAuthLimiterOptions = {}) {
    this.maxFailures = options.maxFailures ?? 10;
    this.windowMs = options.windowMs ?? 60_000;
    this.maxTrackedClients = options.maxTrackedClients ?? 10_000;
    this.now = options.now ?? Date.now;
    for (const [name, value] of [
      ['maxFailures', this.maxFailures],
      ['windowMs', this.windowMs],
      ['maxTrackedClients', this.maxTrackedClients],
    ] as const) {
      if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be an integer >= 1, got ${value}`);
    }
  }

  /** Addresses with failures in memory (for metrics and tests). */
  get trackedClients(): number {
    return this.failuresByClient.size;
  }

  /** Call before verifying; `user` is accepted for symmetry and future per-user policy. */
  check(clientAddress: string, _user: string): LimitDecision {
    const client = clientKey(clientAddress);
    const failures = this.recentFailures(client);
    if (failures === undefined || failures.length < this.maxFailures) return { allowed: true };
    // Refused until the oldest failure in the window ages out.
    const oldest = failures[0]?.at ?? this.now();
    const waitMs = oldest + this.windowMs - this.now();
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) };
  }

  recordFailure(clientAddress: string, user: string): void {
    const client = clientKey(clientAddress);
    const failures = this.recentFailures(client) ?? [];
    failures.push({ at: this.now(), user });
    // Callers stop verifying once refused, but keep memory bounded anyway.
    if (failures.length > this.maxFailures) failures.splice(0, failures.length - this.maxFailures);
    this.failuresByClient.delete(client);
    this.failuresByClient.set(client, failures);
    while (this.failuresByClient.size > this.maxTrackedClients) {
      const oldest = this.failuresByClient.keys().next();
      if (oldest.done === true) break;
      this.failuresByClient.delete(oldest.value);
    }
  }

  recordSuccess(clientAddress: string, user: string): void {
    const client = clientKey(clientAddress);
    const failures = this.recentFailures(client);
    if (failures === undefined) return;
    const others = failures.filter((failure) => failure.user !== user);
    if (others.length === 0) this.failuresByClient.delete(client);
    else this.failuresByClient.set(client, others);
  }

  /** The client's failures still inside the window; forgets the client when none are. */
  private recentFailures(client: string): Failure[] | undefined {
    const failures = this.failuresByClient.get(client);
    if (failures === undefined) return undefined;
    const horizon = this.now() - this.windowMs;
    const firstRecent = failures.findIndex((failure) => failure.at > horizon);
    if (firstRecent < 0) {
      this.failuresByClient.delete(client);
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
