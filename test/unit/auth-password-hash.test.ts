import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import bcrypt from 'bcryptjs';
import { describe, expect, it } from 'vitest';
import { classifyHash, parseHtpasswd } from '../../config/htpasswd.js';
import { hashPasswordBcrypt, verifyPassword, type HashedPassword } from '../../proxy/auth/password-hash.js';

function hashed(hash: string): HashedPassword {
  const classified = classifyHash(hash);
  if (!classified.ok) throw new Error(`fixture hash refused: ${classified.reason}`);
  return { hash, scheme: classified.scheme };
}

// Hashes of passwords other than "secret", made by the real tools.
const NON_ASCII = 'pässwörd';
const byTool: ReadonlyArray<readonly [command: string, hash: string, password: string]> = [
  ["openssl passwd -apr1 -salt xyz secret", '$apr1$xyz$HXgo9gtz4gpj4JWTLYmjB0', 'secret'],
  // apache-md5 alone gets this one wrong (it hashes the low byte of each UTF-16 unit).
  ["openssl passwd -apr1 -salt xyz 'pässwörd'", '$apr1$xyz$L9NqCAHT3AatJtVhf/ISl.', NON_ASCII],
  ["openssl passwd -5 -salt saltsalt 'pässwörd'", '$5$saltsalt$JUyX9J5pA1EE4ZvGcIA.vpwPCUQ8GlJbo51r7M84au8', NON_ASCII],
  ["openssl passwd -6 -salt s 'pässwörd'", '$6$s$6.Q1IjFDMXFFsfV/lNgBTvzU8UqKOoHrVC4vwAFCOOuDvnsgFNcjtsGUrdhqzvwc9T3/sYN/pjpd35T0s1ZKF0', NON_ASCII],
  ["openssl passwd -6 -salt saltsalt 'pass:with:colons'", '$6$saltsalt$uEJMNHUVZGnZOjiCpb67H/.p9Ff.Kddb38G/C..ciohdo2wYSjC2VBiOjtPnrpKBEKHz78eAnKz8wfJVbhm8Z1', 'pass:with:colons'],
  ["python3 crypt.crypt('secret', '$5$rounds=1000$saltsalt')", '$5$rounds=1000$saltsalt$eKLZU9t9OoPWrqOQsoTIKG0aYkZ5rGOoOQhiIvoSWX2', 'secret'],
  ["htpasswd -nbs u 'pässwörd'", '{SHA}9Rfd8dMqES/xrVXGbRsSyzjn6Pc=', NON_ASCII],
  ["htpasswd -nbB -C 4 u 'pässwörd'", '$2y$04$HQ8iaxfLW/D0UzJNo7rc1ueEkH0AaKu7.FCL9O1LL/hlEgJN3/GJi', NON_ASCII],
  ["htpasswd -nbB dave 'pässwörd:x'", '$2y$05$qRgAF83vUUVd4a9dI9k8j.NrkjXT/C5ILr6h.yjZGs2pXowwA3h5y', 'pässwörd:x'],
];

describe('verifyPassword', () => {
  const parsed = parseHtpasswd(readFileSync(resolve('test/fixtures/htpasswd/all-formats.htpasswd'), 'utf8'), 'fixture');
  if (!parsed.ok) throw new Error(parsed.errors.join('\n'));
  const entries = [...parsed.table.values()];

  it.each(entries.map((entry) => [entry.user, entry] as const))('%s: accepts "secret", rejects near misses', (_user, entry) => {
    expect(verifyPassword(entry, 'secret')).toBe(true);
    for (const wrong of ['Secret', 'secret ', 'secre', '', 'secretsecret']) {
      expect(verifyPassword(entry, wrong)).toBe(false);
    }
  });

  it.each(byTool)('%s', (_command, hash, password) => {
    const entry = hashed(hash);
    expect(verifyPassword(entry, password)).toBe(true);
    expect(verifyPassword(entry, `${password}x`)).toBe(false);
    expect(verifyPassword(entry, password.normalize('NFD'))).toBe(password === password.normalize('NFD'));
  });

  it('answers false instead of throwing for a hash that cannot be checked', () => {
    expect(verifyPassword({ scheme: 'bcrypt', hash: '$2x$05$mCMDduF0eNaHGaZjRsnYGO3detWr0nm7T8hNTyGyV16Cbi9RihirC' }, 'secret')).toBe(false);
    expect(verifyPassword({ scheme: 'sha512-crypt', hash: '$6$rounds=10$saltsalt$abc' }, 'secret')).toBe(false);
    expect(verifyPassword({ scheme: 'apr1', hash: '$apr1$xyz$short' }, 'secret')).toBe(false);
  });

  it('never treats the hash as the password', () => {
    for (const entry of entries) expect(verifyPassword(entry, entry.hash)).toBe(false);
  });
});

describe('hashPasswordBcrypt', () => {
  it('writes $2y$ at cost 10, which bcryptjs and our parser accept', () => {
    const hash = hashPasswordBcrypt('correct horse');
    expect(hash).toMatch(/^\$2y\$10\$[./A-Za-z0-9]{53}$/);
    expect(classifyHash(hash)).toEqual({ ok: true, scheme: 'bcrypt' });
    expect(bcrypt.compareSync('correct horse', hash)).toBe(true);
    expect(verifyPassword({ scheme: 'bcrypt', hash }, 'correct horse')).toBe(true);
    expect(verifyPassword({ scheme: 'bcrypt', hash }, 'correct horsE')).toBe(false);
  });
});
