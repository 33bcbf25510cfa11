// The commands an operator types: check-config (like nginx -t) and passwd.
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyPassword } from '../../proxy/auth/password-hash.js';
import { cliPath } from '../fixtures/proxy.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'etcd-warden-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const run = (args: string[], input = '') => spawnSync(process.execPath, [cliPath, ...args], { input, encoding: 'utf8' });

describe('etcd-warden check-config', () => {
  it('exits 0 for a valid config and says what it loaded', async () => {
    const hash = run(['passwd', 'root'], 'pw\n').stdout.trim();
    await writeFile(join(dir, 'htpasswd'), hash + '\n');
    await writeFile(join(dir, 'ok.yaml'), `htpasswd: ${join(dir, 'htpasswd')}\nacls:\n  "/": [root]\n  "/open": []\n`);
    const result = run(['check-config', '--config', join(dir, 'ok.yaml')]);
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('the configuration is valid (1 users, 2 ACL rules)');
    expect(result.stderr).toContain('no tls section');
  });

  it('exits 1 and lists every error with its field', async () => {
    await writeFile(join(dir, 'bad.yaml'), 'readOnly: maybe\nacls:\n  conftool: [root]\ntls:\n  cert: /nonexistent.crt\n  key: /nonexistent.key\n');
    const result = run(['check-config', '--config', join(dir, 'bad.yaml')]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('readOnly: must be true or false');
    expect(result.stderr).toContain('acls["conftool"]: the prefix must be a clean key path');
  });

  it('reports missing files the config points at', async () => {
    await writeFile(join(dir, 'files.yaml'), 'tls:\n  cert: /nonexistent.crt\n  key: /nonexistent.key\nhtpasswd: /nonexistent-htpasswd\n');
    const result = run(['check-config', '--config', join(dir, 'files.yaml')]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('tls.cert: cannot read /nonexistent.crt');
    expect(result.stderr).toContain('/nonexistent-htpasswd');
  });

  it('reports YAML syntax errors with the file name', async () => {
    await writeFile(join(dir, 'syntax.yaml'), 'acls: [unclosed\n');
    const result = run(['check-config', '--config', join(dir, 'syntax.yaml')]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`${join(dir, 'syntax.yaml')}: YAML:`);
  });
});

describe('etcd-warden passwd', () => {
  it('prints an htpasswd line with a bcrypt cost-10 hash of the password read from stdin', () => {
    const result = run(['passwd', 'conftool'], 's3cret: with colon\n');
    expect(result.status).toBe(0);
    const [user, hash] = result.stdout.trim().split(/:(.*)/s);
    expect(user).toBe('conftool');
    expect(hash).toMatch(/^\$2y\$10\$/);
    expect(verifyPassword({ scheme: 'bcrypt', hash: hash ?? '' }, 's3cret: with colon')).toBe(true);
  });

  it('refuses an empty password', () => {
    expect(run(['passwd', 'conftool'], '\n').status).not.toBe(0);
  });
});

describe('etcd-warden', () => {
  it('names an unknown command and prints the usage', () => {
    const result = run(['proxie']);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('unknown command "proxie"');
    expect(result.stderr).toContain('check-config --config FILE');
  });
});
