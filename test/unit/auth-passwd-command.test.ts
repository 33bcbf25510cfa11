import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { parseHtpasswd } from '../../config/htpasswd.js';
import { passwdCommand } from '../../bin/commands/passwd.js';
import { verifyPassword } from '../../proxy/auth/password-hash.js';

async function run(argv: string[], input: string | Buffer[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on('data', (chunk: Buffer) => out.push(chunk));
  stderr.on('data', (chunk: Buffer) => err.push(chunk));
  const stdin = Readable.from(typeof input === 'string' ? [Buffer.from(input)] : input);
  const code = await passwdCommand(argv, stdin, stdout, stderr);
  return { code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
}

function htpasswdAvailable(): boolean {
  try {
    execFileSync('htpasswd', ['-nbB', 'probe', 'probe'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('etcd-warden passwd', () => {
  it('prints USER:<bcrypt cost 10> that our parser and verifier accept', async () => {
    const result = await run(['alice'], 'correct horse: battery\nsecond line ignored\n');
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/^alice:\$2y\$10\$[./A-Za-z0-9]{53}\n$/);
    const parsed = parseHtpasswd(result.stdout, 'stdout');
    if (!parsed.ok) throw new Error(parsed.errors.join('\n'));
    const entry = parsed.table.get('alice');
    if (entry === undefined) throw new Error('alice missing');
    expect(verifyPassword(entry, 'correct horse: battery')).toBe(true);
    expect(verifyPassword(entry, 'correct horse: battery\n')).toBe(false);
  });

  it.runIf(htpasswdAvailable())('writes a line Apache\'s own htpasswd -v accepts', async () => {
    const result = await run(['alice'], 'pässwörd\r\n');
    const dir = await mkdtemp(join(tmpdir(), 'warden-passwd-'));
    try {
      const file = join(dir, 'htpasswd');
      await writeFile(file, result.stdout);
      expect(() => execFileSync('htpasswd', ['-vb', file, 'alice', 'pässwörd'], { stdio: 'pipe' })).not.toThrow();
      expect(() => execFileSync('htpasswd', ['-vb', file, 'alice', 'passwörd'], { stdio: 'pipe' })).toThrow();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reads a password split across chunks, with CRLF, and without a final newline', async () => {
    const split = await run(['bob'], [Buffer.from('se'), Buffer.from('cr'), Buffer.from('et\r\nmore')]);
    const noNewline = await run(['bob'], 'secret');
    for (const result of [split, noNewline]) {
      expect(result.code).toBe(0);
      const hash = result.stdout.trim().slice('bob:'.length);
      expect(verifyPassword({ scheme: 'bcrypt', hash }, 'secret')).toBe(true);
    }
  });

  it.each([
    ['no user', []],
    ['two users', ['a', 'b']],
    ['a colon', ['a:b']],
    ['a space', ['a b']],
    ['a tab', ['a\tb']],
    ['an empty name', ['']],
    ['an option', ['--user']],
  ])('exits 2 with usage for %s', async (_name, argv) => {
    const result = await run(argv, 'secret\n');
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('usage: etcd-warden passwd USER');
  });

  it.each([
    ['an empty password', '\n', 'empty password refused'],
    ['empty stdin', '', 'empty password refused'],
    ['a password bcrypt would truncate', `${'x'.repeat(73)}\n`, 'longer than 72 bytes'],
    ['bytes that are not UTF-8', [Buffer.from([0xff, 0x0a])], 'not valid UTF-8'],
  ])('exits 1 on %s', async (_name, input, message) => {
    const result = await run(['alice'], input);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(message);
  });

  it('prints usage on --help and exits 0', async () => {
    const result = await run(['--help'], '');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('usage: etcd-warden passwd USER');
  });
});
