import { describe, expect, it } from 'vitest';
import { clientKey, FailedAuthLimiter } from '../../proxy/auth/failure-limiter.js';

function limiter(options: { maxFailures?: number; maxFailuresPerUser?: number; windowMs?: number; maxTrackedClients?: number; maxTrackedUsers?: number } = {}) {
  let now = 5_000_000;
  const instance = new FailedAuthLimiter({ ...options, now: () => now });
  return { limiter: instance, advance: (ms: number) => void (now += ms) };
}

describe('FailedAuthLimiter', () => {
  it('refuses an address after maxFailures inside the window, then lets it retry', () => {
    const { limiter: l, advance } = limiter({ maxFailures: 3, windowMs: 60_000 });
    for (let i = 0; i < 3; i++) {
      expect(l.check('10.0.0.1', 'alice')).toEqual({ allowed: true });
      l.recordFailure('10.0.0.1', 'alice');
      advance(10_000);
    }
    // Failures at t=0, 10 s, 20 s; now t=30 s: the first ages out at t=60 s.
    expect(l.check('10.0.0.1', 'alice')).toEqual({ allowed: false, retryAfterSeconds: 30 });
    expect(l.check('10.0.0.1', 'bob')).toEqual({ allowed: false, retryAfterSeconds: 30 });
    advance(29_999);
    expect(l.check('10.0.0.1', 'alice')).toEqual({ allowed: false, retryAfterSeconds: 1 });
    advance(1);
    expect(l.check('10.0.0.1', 'alice')).toEqual({ allowed: true });
  });

  it('slides: failures older than the window stop counting one by one', () => {
    const { limiter: l, advance } = limiter({ maxFailures: 2, windowMs: 1000 });
    l.recordFailure('10.0.0.1', 'alice');
    advance(600);
    l.recordFailure('10.0.0.1', 'alice');
    expect(l.check('10.0.0.1', 'alice').allowed).toBe(false);
    advance(400);
    expect(l.check('10.0.0.1', 'alice').allowed).toBe(true);
    l.recordFailure('10.0.0.1', 'alice');
    expect(l.check('10.0.0.1', 'alice').allowed).toBe(false);
  });

  it('does not lock the user out from another address when one address guesses', () => {
    const { limiter: l } = limiter({ maxFailures: 3 });
    // Callers stop verifying (and recording) once an address is refused.
    for (let i = 0; i < 3; i++) l.recordFailure('203.0.113.9', 'alice');
    expect(l.check('203.0.113.9', 'alice').allowed).toBe(false);
    expect(l.check('10.0.0.1', 'alice')).toEqual({ allowed: true });
    expect(l.check('10.0.0.2', 'bob')).toEqual({ allowed: true });
  });

  it('refuses a user guessed at from many addresses, from any address, until the window slides; other users go on', () => {
    const { limiter: l, advance } = limiter({ maxFailures: 3, maxFailuresPerUser: 5, windowMs: 60_000 });
    for (let i = 0; i < 5; i++) {
      expect(l.check(`198.51.100.${i}`, 'alice')).toEqual({ allowed: true });
      l.recordFailure(`198.51.100.${i}`, 'alice');
      advance(1000);
    }
    expect(l.check('10.9.9.9', 'alice')).toEqual({ allowed: false, retryAfterSeconds: 55 });
    expect(l.check('10.9.9.9', 'bob')).toEqual({ allowed: true });
    // A success (e.g. alice from her own host) forgives per address only: the guessing goes on being slowed.
    l.recordSuccess('10.9.9.9', 'alice');
    expect(l.check('10.9.9.8', 'alice').allowed).toBe(false);
    advance(55_000);
    expect(l.check('10.9.9.9', 'alice')).toEqual({ allowed: true });
    advance(5000);
    l.check('10.9.9.9', 'alice');
    expect(l.trackedUsers).toBe(0);
  });

  it('defaults to three times the per-address limit per user, and counts no user for a malformed header', () => {
    const { limiter: l } = limiter({ maxFailures: 10 });
    expect(l.maxFailuresPerUser).toBe(30);
    l.recordFailure('10.0.0.1', '');
    expect(l.trackedUsers).toBe(0);
  });

  it('tracks at most maxTrackedUsers users, evicting the least recently failing', () => {
    const { limiter: l } = limiter({ maxFailures: 1000, maxFailuresPerUser: 1, maxTrackedUsers: 50 });
    l.recordFailure('10.0.0.1', 'alice');
    for (let i = 0; i < 1000; i++) l.recordFailure('10.0.0.2', `sprayed${i}`);
    expect(l.trackedUsers).toBe(50);
    expect(l.check('10.0.0.3', 'alice').allowed).toBe(true);
  });

  it('forgives only the successful user\'s failures from that address', () => {
    const { limiter: l } = limiter({ maxFailures: 3 });
    l.recordFailure('10.0.0.1', 'alice');
    l.recordFailure('10.0.0.1', 'alice');
    l.recordSuccess('10.0.0.1', 'alice');
    expect(l.trackedClients).toBe(0);
    // An attacker with one valid account cannot launder guesses at another.
    l.recordFailure('10.0.0.1', 'bob');
    l.recordFailure('10.0.0.1', 'bob');
    l.recordFailure('10.0.0.1', 'bob');
    l.recordSuccess('10.0.0.1', 'mallory');
    expect(l.check('10.0.0.1', 'mallory').allowed).toBe(false);
    // A success from elsewhere changes nothing here.
    l.recordSuccess('10.0.0.2', 'bob');
    expect(l.check('10.0.0.1', 'bob').allowed).toBe(false);
  });

  it('tracks at most maxTrackedClients addresses, evicting the least recently failing', () => {
    const { limiter: l } = limiter({ maxFailures: 2, maxTrackedClients: 100 });
    l.recordFailure('198.51.100.1', 'alice');
    l.recordFailure('198.51.100.1', 'alice');
    for (let i = 0; i < 10_000; i++) l.recordFailure(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, 'root');
    expect(l.trackedClients).toBe(100);
    // The oldest address was evicted: memory stayed bounded, at the price of forgetting it.
    expect(l.check('198.51.100.1', 'alice').allowed).toBe(true);
  });

  it('keeps at most maxFailures timestamps per address even if callers keep recording', () => {
    const { limiter: l, advance } = limiter({ maxFailures: 3, windowMs: 1000 });
    for (let i = 0; i < 1000; i++) l.recordFailure('10.0.0.1', `user${i}`);
    expect(l.check('10.0.0.1', 'x').allowed).toBe(false);
    advance(1000);
    expect(l.check('10.0.0.1', 'x').allowed).toBe(true);
    expect(l.trackedClients).toBe(0);
  });

  it('counts an IPv6 /64 as one client, and IPv4-mapped addresses as IPv4', () => {
    const { limiter: l } = limiter({ maxFailures: 2 });
    l.recordFailure('2001:db8:1:2::1', 'alice');
    l.recordFailure('2001:db8:1:2:ffff:ffff:ffff:ffff', 'alice');
    expect(l.check('2001:0db8:0001:0002:0:0:0:abcd', 'alice').allowed).toBe(false);
    expect(l.check('2001:db8:1:3::1', 'alice').allowed).toBe(true);
    l.recordFailure('::ffff:192.0.2.7', 'alice');
    l.recordFailure('192.0.2.7', 'alice');
    expect(l.check('192.0.2.7', 'alice').allowed).toBe(false);
  });
});

describe('clientKey', () => {
  it.each([
    ['192.0.2.7', '192.0.2.7'],
    ['::ffff:192.0.2.7', '192.0.2.7'],
    ['::1', '0:0:0:0::/64'],
    ['2001:db8::', '2001:db8:0:0::/64'],
    ['2001:DB8:0:0:1::1', '2001:db8:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['::ffff:0:192.0.2.7', '0:0:0:0::/64'],
    ['not-an-address', 'not-an-address'],
  ])('%s -> %s', (address, key) => {
    expect(clientKey(address)).toBe(key);
  });
});
