import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseHtpasswd, type HtpasswdTable } from '../../config/htpasswd.js';
import { verifyPassword, type HashedPassword } from '../../proxy/auth/password-hash.js';
import { CredentialVerifier, type OffThreadVerify } from '../../proxy/auth/verifier.js';

function table(text: string): HtpasswdTable {
  const parsed = parseHtpasswd(text, 'test');
  if (!parsed.ok) throw new Error(parsed.errors.join('\n'));
  return parsed.table;
}

const allFormats = table(readFileSync(resolve('test/fixtures/htpasswd/all-formats.htpasswd'), 'utf8'));

// The real check, run in this thread, counting what would have gone to the pool.
function countingVerify(): { verify: OffThreadVerify; calls: HashedPassword[] } {
  const calls: HashedPassword[] = [];
  return {
    calls,
    verify: async (entry, password) => {
      calls.push(entry);
      return verifyPassword(entry, password);
    },
  };
}

// htpasswd -nbB -C 4 alice secret / htpasswd -nbB -C 4 alice newsecret
const ALICE_SECRET = 'alice:$2y$04$dYxbFx/Ij12E6LTLifUTZOC2dxDlVpfxcwTyRYutCEiYxsLIX0Szm\n';
const ALICE_NEWSECRET = 'alice:$2y$04$VbyOVASmX/kUonU6PGaGT.UMMM8hwD/NbVwHswEFKqm53KYgjRgzK\n';

describe('CredentialVerifier', () => {
  it('verifies every format, sending all but {SHA}/{SSHA} off the main thread', async () => {
    const pool = countingVerify();
    const verifier = new CredentialVerifier({ table: allFormats, offThreadVerify: pool.verify });
    for (const user of allFormats.keys()) {
      expect(await verifier.verify(user, 'wrong')).toBe(false);
      expect(await verifier.verify(user, 'secret')).toBe(true);
    }
    const offThread = new Set(pool.calls.map((call) => call.scheme));
    expect([...offThread].sort()).toEqual(['apr1', 'bcrypt', 'md5-crypt', 'sha256-crypt', 'sha512-crypt']);
    await verifier.close();
  });

  it('answers a repeated correct credential from the cache without another check', async () => {
    const pool = countingVerify();
    const verifier = new CredentialVerifier({ table: table(ALICE_SECRET), offThreadVerify: pool.verify });
    expect(await verifier.verify('alice', 'secret')).toBe(true);
    expect(await verifier.verify('alice', 'secret')).toBe(true);
    expect(await verifier.verify('alice', 'secret')).toBe(true);
    expect(pool.calls).toHaveLength(1);
    expect(verifier.cachedCredentials).toBe(1);
  });

  it('never lets a wrong password ride on a cached one, and never caches failures', async () => {
    const pool = countingVerify();
    const verifier = new CredentialVerifier({ table: table(ALICE_SECRET), offThreadVerify: pool.verify });
    expect(await verifier.verify('alice', 'secret')).toBe(true);
    expect(await verifier.verify('alice', 'secreT')).toBe(false);
    expect(await verifier.verify('alice', 'secreT')).toBe(false);
    expect(pool.calls).toHaveLength(3);
    expect(await verifier.verify('alice', 'secret')).toBe(true);
    expect(pool.calls).toHaveLength(3);
  });

  it('shares one check among concurrent requests with the same credential', async () => {
    const pool = countingVerify();
    const verifier = new CredentialVerifier({ table: table(ALICE_SECRET), offThreadVerify: pool.verify });
    const results = await Promise.all(Array.from({ length: 20 }, () => verifier.verify('alice', 'secret')));
    expect(results.every(Boolean)).toBe(true);
    expect(pool.calls).toHaveLength(1);
  });

  it('judges against the new file after replaceTable, and forgets the old password', async () => {
    const pool = countingVerify();
    const verifier = new CredentialVerifier({ table: table(ALICE_SECRET), offThreadVerify: pool.verify });
    expect(await verifier.verify('alice', 'secret')).toBe(true);
    verifier.replaceTable(table(ALICE_NEWSECRET));
    expect(verifier.cachedCredentials).toBe(0);
    expect(await verifier.verify('alice', 'secret')).toBe(false);
    expect(await verifier.verify('alice', 'newsecret')).toBe(true);
    verifier.replaceTable(table('bob:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n'));
    expect(verifier.cachedCredentials).toBe(0);
    expect(await verifier.verify('alice', 'newsecret')).toBe(false);
  });

  it('keeps remembering a credential across a reload that leaves its user\'s hash unchanged', async () => {
    const pool = countingVerify();
    const verifier = new CredentialVerifier({ table: table(ALICE_SECRET), offThreadVerify: pool.verify });
    expect(await verifier.verify('alice', 'secret')).toBe(true);
    verifier.replaceTable(table(ALICE_SECRET + 'bob:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n'));
    expect(verifier.isProven('alice', 'secret')).toBe(true);
    expect(await verifier.verify('alice', 'secret')).toBe(true);
    expect(pool.calls).toHaveLength(1);
  });

  it('does not cache a success checked against a hash the reload replaced meanwhile', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const verifier = new CredentialVerifier({
      table: table(ALICE_SECRET),
      offThreadVerify: async (entry, password) => {
        await gate;
        return verifyPassword(entry, password);
      },
    });
    const pending = verifier.verify('alice', 'secret');
    verifier.replaceTable(table(ALICE_NEWSECRET));
    release();
    expect(await pending).toBe(true); // judged on the file it started with
    expect(verifier.cachedCredentials).toBe(0);
  });

  it('expires cached credentials after cacheTtlMs', async () => {
    let now = 0;
    const pool = countingVerify();
    const verifier = new CredentialVerifier({
      table: table(ALICE_SECRET),
      offThreadVerify: pool.verify,
      cacheTtlMs: 60_000,
      now: () => now,
    });
    await verifier.verify('alice', 'secret');
    now = 59_999;
    await verifier.verify('alice', 'secret');
    expect(pool.calls).toHaveLength(1);
    now = 60_000;
    await verifier.verify('alice', 'secret');
    expect(pool.calls).toHaveLength(2);
  });

  it('makes an unknown user pay for a check of the table\'s usual kind, then says no', async () => {
    const pool = countingVerify();
    const verifier = new CredentialVerifier({ table: allFormats, offThreadVerify: pool.verify });
    expect(await verifier.verify('mallory', 'secret')).toBe(false);
    expect(await verifier.verify('mallory', 'secret')).toBe(false);
    expect(pool.calls).toHaveLength(2);
    // all-formats has two bcrypt users, but at different costs; with a tie the first kind wins.
    expect(pool.calls[0]?.scheme).toBe('bcrypt');

    const apr1Only = countingVerify();
    const production = new CredentialVerifier({
      table: table(
        'a:$apr1$gy5hhMvq$VPyArKyDCt9HX18MAZnzX.\nb:$apr1$xyz$HXgo9gtz4gpj4JWTLYmjB0\nc:$2y$04$dYxbFx/Ij12E6LTLifUTZOC2dxDlVpfxcwTyRYutCEiYxsLIX0Szm\n',
      ),
      offThreadVerify: apr1Only.verify,
    });
    expect(await production.verify('nobody', 'x')).toBe(false);
    expect(apr1Only.calls.map((call) => call.scheme)).toEqual(['apr1']);

    const empty = countingVerify();
    const none = new CredentialVerifier({ table: new Map(), offThreadVerify: empty.verify });
    expect(await none.verify('root', 'x')).toBe(false);
    expect(empty.calls.map((call) => call.hash.slice(0, 7))).toEqual(['$2y$10$']);
  });

  it('passes a pool rejection through instead of answering false', async () => {
    const busy = new Error('busy');
    const verifier = new CredentialVerifier({ table: table(ALICE_SECRET), offThreadVerify: () => Promise.reject(busy) });
    await expect(verifier.verify('alice', 'secret')).rejects.toBe(busy);
  });
});
