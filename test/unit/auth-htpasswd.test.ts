import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadHtpasswd, parseHtpasswd, type HtpasswdResult, type HtpasswdTable } from '../../config/htpasswd.js';

const fixtures = resolve('test/fixtures/htpasswd');

function tableOf(result: HtpasswdResult): HtpasswdTable {
  if (!result.ok) throw new Error(`expected a table, got errors:\n${result.errors.join('\n')}`);
  return result.table;
}

function errorsOf(result: HtpasswdResult): string[] {
  if (result.ok) throw new Error('expected errors, got a table');
  return result.errors;
}

describe('parseHtpasswd / loadHtpasswd', () => {
  it('reads every supported format from a file made with htpasswd and openssl', async () => {
    const table = tableOf(await loadHtpasswd(join(fixtures, 'all-formats.htpasswd')));
    const schemes = Object.fromEntries([...table.values()].map((entry) => [entry.user, entry.scheme]));
    expect(schemes).toEqual({
      bcrypt10: 'bcrypt',
      bcrypt5: 'bcrypt',
      apr1: 'apr1',
      md5crypt: 'md5-crypt',
      sha256: 'sha256-crypt',
      sha512: 'sha512-crypt',
      sha512rounds: 'sha512-crypt',
      sha1: 'sha1',
      ssha: 'ssha',
    });
    expect(table.get('apr1')).toEqual({
      user: 'apr1',
      hash: '$apr1$gy5hhMvq$VPyArKyDCt9HX18MAZnzX.',
      scheme: 'apr1',
      line: 9,
    });
  });

  it('tolerates CRLF line ends, blank lines and comments', async () => {
    const table = tableOf(await loadHtpasswd(join(fixtures, 'crlf.htpasswd')));
    expect([...table.keys()]).toEqual(['apr1', 'sha1']);
    expect(table.get('sha1')?.hash).toBe('{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=');
    expect(table.get('sha1')?.line).toBe(6);
  });

  it('ignores fields after the hash, as Apache and nginx do', () => {
    const table = tableOf(parseHtpasswd('bob:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=:Bob Example\n', 'f'));
    expect(table.get('bob')?.hash).toBe('{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=');
  });

  it('refuses each unsupported, malformed or duplicate line, naming file, line and user', async () => {
    const path = join(fixtures, 'unsupported.htpasswd');
    const errors = errorsOf(await loadHtpasswd(path));
    const where = (line: number): string => `htpasswd ${path} line ${line}`;
    expect(errors).toEqual([
      `${where(5)}: user "plain": hash format not recognised (plaintext? it is never compared as such); use bcrypt (htpasswd -B, or etcd-warden passwd USER)`,
      `${where(7)}: user "des": hash looks like DES crypt (htpasswd -d), which is not supported; use bcrypt (htpasswd -B, or etcd-warden passwd USER)`,
      `${where(9)}: user "yes": hash format "$y$" (yescrypt) is not supported; use bcrypt (htpasswd -B, or etcd-warden passwd USER)`,
      `${where(10)}: user "nginxplain": hash format "{PLAIN}" (plaintext) is refused; use bcrypt (htpasswd -B, or etcd-warden passwd USER)`,
      `${where(11)}: expected "user:hash", found no colon`,
      `${where(12)}: empty user name`,
      `${where(13)}: user "good" appears again (first on line 3)`,
      `${where(14)}: user "shortbcrypt": malformed bcrypt hash (expected $2y$NN$ and 53 characters)`,
    ]);
  });

  it('never quotes a hash or an unparseable line in its messages (either may be a plaintext password)', () => {
    const errors = errorsOf(parseHtpasswd('alice:hunter2\nhunter3\nbob:{PLAIN}hunter4\n', 'f'));
    expect(errors.join('\n')).not.toMatch(/hunter/);
  });

  it('reports a duplicate even when the first line for that user was itself refused', () => {
    const errors = errorsOf(parseHtpasswd('x:plain\nx:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n', 'f'));
    expect(errors).toHaveLength(2);
    expect(errors[1]).toBe('htpasswd f line 2: user "x" appears again (first on line 1)');
  });

  it.each([
    ['$2y$03$mCMDduF0eNaHGaZjRsnYGO3detWr0nm7T8hNTyGyV16Cbi9RihirC', 'bcrypt cost 3 is outside 04..17'],
    ['$2y$18$mCMDduF0eNaHGaZjRsnYGO3detWr0nm7T8hNTyGyV16Cbi9RihirC', 'bcrypt cost 18 is outside 04..17'],
    ['$2x$05$mCMDduF0eNaHGaZjRsnYGO3detWr0nm7T8hNTyGyV16Cbi9RihirC', 'hash format "$2x$"'],
    ['$apr1$gy5hhMvq$VPyArKyDCt9HX18MAZnzX', 'malformed MD5-crypt hash'],
    ['$5$saltsalt$0IyaXrmV7.sGNS6tirgqHLqX/G.FBvgkYA.lpPdS5s', 'malformed SHA-256-crypt hash'],
    ['$6$rounds=500$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1', 'rounds=500 < 1000'],
    ['$6$rounds=5000000$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1', 'rounds=5000000 is above 1000000'],
    ['{SHA}5en6G6MezRroT3XKqkdPOmY/Bf==', 'malformed {SHA} hash'],
    ['{SSHA}5en6G6MezRroT3XKqkdPOmY/BfQ=', 'malformed {SSHA} hash'],
    ['{MD5}Xr4ilOzQ4PCOq3aQ0qbuaQ==', 'hash format "{MD5}" is not supported'],
    ['$7$CU..../....abc$xyz', 'hash format "$7$" (scrypt)'],
    ['', 'empty hash'],
  ])('refuses %j: %s', (hash, reason) => {
    const errors = errorsOf(parseHtpasswd(`carol:${hash}\n`, '/etc/x'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain('htpasswd /etc/x line 1: user "carol": ');
    expect(errors[0]).toContain(reason);
  });

  it('accepts an empty file as an empty table', () => {
    expect(tableOf(parseHtpasswd('# nobody yet\n\n', 'f')).size).toBe(0);
  });

  it('turns a file it cannot read into an error naming the path', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'warden-htpasswd-'));
    try {
      const missing = join(dir, 'missing.htpasswd');
      const errors = errorsOf(await loadHtpasswd(missing));
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(new RegExp(`^htpasswd ${missing}: cannot read the file: ENOENT`));
      const ok = join(dir, 'ok.htpasswd');
      await writeFile(ok, 'u:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n');
      expect(tableOf(await loadHtpasswd(ok)).get('u')?.scheme).toBe('sha1');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
