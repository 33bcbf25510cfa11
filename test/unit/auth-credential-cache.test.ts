import { describe, expect, it } from 'vitest';
import { InFlightVerifications, VerifiedCredentialCache } from '../../proxy/auth/credential-cache.js';

const HASH = '$2y$05$mCMDduF0eNaHGaZjRsnYGO3detWr0nm7T8hNTyGyV16Cbi9RihirC';
const OTHER_HASH = '$apr1$gy5hhMvq$VPyArKyDCt9HX18MAZnzX.';

function clock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let time = start;
  return { now: () => time, advance: (ms) => void (time += ms) };
}

describe('VerifiedCredentialCache', () => {
  it('remembers a verified credential against the hash it was checked with', () => {
    const cache = new VerifiedCredentialCache();
    const fingerprint = cache.fingerprint('alice', 'secret');
    expect(cache.has('alice', fingerprint, HASH)).toBe(false);
    cache.remember('alice', fingerprint, HASH);
    expect(cache.has('alice', cache.fingerprint('alice', 'secret'), HASH)).toBe(true);
  });

  it('never matches a wrong password, and a wrong try does not evict the right one', () => {
    const cache = new VerifiedCredentialCache();
    cache.remember('alice', cache.fingerprint('alice', 'secret'), HASH);
    for (const wrong of ['Secret', 'secret ', '', 'secret\u0000']) {
      expect(cache.has('alice', cache.fingerprint('alice', wrong), HASH)).toBe(false);
    }
    expect(cache.has('bob', cache.fingerprint('alice', 'secret'), HASH)).toBe(false);
    expect(cache.has('alice', cache.fingerprint('alice', 'secret'), HASH)).toBe(true);
  });

  it('does not store the password or a plain hash of it', () => {
    const cache = new VerifiedCredentialCache({ secret: Buffer.alloc(32, 7) });
    const other = new VerifiedCredentialCache({ secret: Buffer.alloc(32, 8) });
    expect(cache.fingerprint('alice', 'secret').equals(other.fingerprint('alice', 'secret'))).toBe(false);
    expect(cache.fingerprint('alice', 'secret')).toHaveLength(32);
  });

  it('stops counting an entry once the user\'s hash in the file changes', () => {
    const cache = new VerifiedCredentialCache();
    const fingerprint = cache.fingerprint('alice', 'secret');
    cache.remember('alice', fingerprint, HASH);
    expect(cache.has('alice', fingerprint, OTHER_HASH)).toBe(false);
    // …and the stale entry is gone, even if the old hash came back.
    expect(cache.has('alice', fingerprint, HASH)).toBe(false);
  });

  it('expires entries after the TTL, counted from the verification, not the last hit', () => {
    const time = clock();
    const cache = new VerifiedCredentialCache({ ttlMs: 1000, now: time.now });
    const fingerprint = cache.fingerprint('alice', 'secret');
    cache.remember('alice', fingerprint, HASH);
    time.advance(600);
    expect(cache.has('alice', fingerprint, HASH)).toBe(true);
    time.advance(399);
    expect(cache.has('alice', fingerprint, HASH)).toBe(true);
    time.advance(1);
    expect(cache.has('alice', fingerprint, HASH)).toBe(false);
  });

  it('still knows an expired credential as proven (the failure limiter lets it be checked again), but not a wrong one', () => {
    const time = clock();
    const cache = new VerifiedCredentialCache({ ttlMs: 1000, now: time.now });
    const fingerprint = cache.fingerprint('alice', 'secret');
    cache.remember('alice', fingerprint, HASH);
    time.advance(5000);
    expect(cache.has('alice', fingerprint, HASH)).toBe(false);
    expect(cache.proven('alice', fingerprint, HASH)).toBe(true);
    expect(cache.proven('alice', cache.fingerprint('alice', 'guess'), HASH)).toBe(false);
    // A changed password in the file proves nothing any more.
    expect(cache.proven('alice', fingerprint, '$2y$10$another')).toBe(false);
    expect(cache.size).toBe(0);
  });

  it('keeps at most maxEntries users, evicting the least recently used', () => {
    const cache = new VerifiedCredentialCache({ maxEntries: 3 });
    const fp = (user: string): Buffer => cache.fingerprint(user, 'pw');
    for (const user of ['a', 'b', 'c']) cache.remember(user, fp(user), HASH);
    expect(cache.has('a', fp('a'), HASH)).toBe(true); // a is now the most recent
    cache.remember('d', fp('d'), HASH);
    expect(cache.size).toBe(3);
    expect(cache.has('b', fp('b'), HASH)).toBe(false);
    for (const user of ['a', 'c', 'd']) expect(cache.has(user, fp(user), HASH)).toBe(true);
    for (let i = 0; i < 1000; i++) cache.remember(`spray${i}`, fp(`spray${i}`), HASH);
    expect(cache.size).toBe(3);
  });

  it('forgets everything on clear() (htpasswd reload)', () => {
    const cache = new VerifiedCredentialCache();
    const fingerprint = cache.fingerprint('alice', 'secret');
    cache.remember('alice', fingerprint, HASH);
    cache.clear();
    expect(cache.has('alice', fingerprint, HASH)).toBe(false);
  });
});

describe('InFlightVerifications', () => {
  it('runs one check for concurrent requests with the same credential and hash', async () => {
    const inFlight = new InFlightVerifications();
    const cache = new VerifiedCredentialCache();
    let runs = 0;
    let finish: (verified: boolean) => void = () => undefined;
    const check = (): Promise<boolean> => {
      runs++;
      return new Promise<boolean>((resolve) => (finish = resolve));
    };
    const same = cache.fingerprint('alice', 'secret');
    const results = [
      inFlight.run('alice', same, HASH, check),
      inFlight.run('alice', cache.fingerprint('alice', 'secret'), HASH, check),
      inFlight.run('alice', same, HASH, check),
    ];
    expect(runs).toBe(1);
    // A different password, or the same one against another hash, is its own check.
    void inFlight.run('alice', cache.fingerprint('alice', 'other'), HASH, async () => (runs++, false));
    void inFlight.run('alice', same, OTHER_HASH, async () => (runs++, false));
    expect(runs).toBe(3);
    finish(true);
    expect(await Promise.all(results)).toEqual([true, true, true]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(inFlight.size).toBe(0);
  });
});
