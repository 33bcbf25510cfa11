// The failure limiter only ever refuses credentials not yet proven: a table
// of who gets through while the client's address (or the user) is limited.
import { describe, expect, it } from 'vitest';
import { FailedAuthLimiter } from '../../proxy/auth/failure-limiter.js';
import { parseHtpasswd } from '../../config/htpasswd.js';
import { verifyPassword } from '../../proxy/auth/password-hash.js';
import { CredentialVerifier } from '../../proxy/auth/verifier.js';
import { authenticate } from '../../proxy/authenticate.js';
import { basicAuth } from '../fixtures/proxy.js';

// htpasswd -nbB -C 4: alice / secret, bob / hunter2
const file = 'alice:$2y$04$dYxbFx/Ij12E6LTLifUTZOC2dxDlVpfxcwTyRYutCEiYxsLIX0Szm\nbob:{SHA}87u9ZqY9S/F0eUBXjsPQEDUw4h0=\n';

function setup(): { verifier: CredentialVerifier; limiter: FailedAuthLimiter; advance: (ms: number) => void } {
  const parsed = parseHtpasswd(file, 'test');
  if (!parsed.ok) throw new Error(parsed.errors.join('\n'));
  let now = 1_000_000;
  const clock = (): number => now;
  return {
    verifier: new CredentialVerifier({ table: parsed.table, offThreadVerify: async (entry, password) => verifyPassword(entry, password), cacheTtlMs: 60_000, now: clock }),
    limiter: new FailedAuthLimiter({ maxFailures: 3, now: clock }),
    advance: (ms) => void (now += ms),
  };
}

const outcome = async (header: string, address: string, { verifier, limiter }: ReturnType<typeof setup>): Promise<string> => {
  const result = await authenticate(header, address, verifier, limiter);
  if (result.kind === 'refused') return `refused ${result.error.status} ${result.reason} retry-after ${result.error.headers?.['retry-after'] ?? '-'}`;
  return result.identity.kind === 'user' ? `user ${result.identity.user}` : result.identity.kind;
};

describe('authenticate with the failure limiter', () => {
  it('lets a proven credential through a limited address, and refuses a guess or an unproven credential there', async () => {
    const world = setup();
    expect(await outcome(basicAuth('alice', 'secret'), '10.0.0.1', world)).toBe('user alice');
    for (let i = 0; i < 3; i++) expect(await outcome(basicAuth('alice', `guess${i}`), '10.0.0.1', world)).toBe('rejected');
    expect(await outcome(basicAuth('alice', 'guess3'), '10.0.0.1', world)).toMatch(/^refused 429 rate-limited retry-after \d+$/);
    // Nothing left to guess: the right password, already verified, is never refused.
    expect(await outcome(basicAuth('alice', 'secret'), '10.0.0.1', world)).toBe('user alice');
    // bob's right password was never verified: from the limited address it waits like any guess.
    expect(await outcome(basicAuth('bob', 'hunter2'), '10.0.0.1', world)).toMatch(/^refused 429/);
    expect(await outcome(basicAuth('bob', 'hunter2'), '10.0.0.2', world)).toBe('user bob');
  });

  it('still lets a proven credential through after its cache entry expired (it is checked again, not limited)', async () => {
    const world = setup();
    expect(await outcome(basicAuth('alice', 'secret'), '10.0.0.1', world)).toBe('user alice');
    world.advance(120_000);
    for (let i = 0; i < 3; i++) await outcome(basicAuth('alice', `guess${i}`), '10.0.0.1', world);
    expect(await outcome(basicAuth('alice', 'secret'), '10.0.0.1', world)).toBe('user alice');
  });

  it('refuses unproven logins of a user guessed at from many addresses, wherever they come from', async () => {
    const world = setup();
    // Per user: three times the per-address limit (9 here), spread so no address reaches its own.
    for (let i = 0; i < 9; i++) await outcome(basicAuth('bob', `guess${i}`), `198.51.100.${i}`, world);
    expect(await outcome(basicAuth('bob', 'hunter2'), '10.0.0.9', world)).toMatch(/^refused 429/);
    expect(await outcome(basicAuth('alice', 'secret'), '10.0.0.9', world)).toBe('user alice');
  });
});
