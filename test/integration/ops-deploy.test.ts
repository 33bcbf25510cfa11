// deploy/config.example.yaml must pass `etcd-warden check-config` as
// shipped, with only its /etc/etcd-warden paths pointed at real files.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCertificates, type TestCertificates } from '../fixtures/certs.js';
import { htpasswdLine } from '../fixtures/proxy.js';
import { runCli } from './ops-helpers.js';

let dir: string;
let certs: TestCertificates;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'etcd-warden-deploy-'));
  certs = await makeCertificates();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await rm(certs.dir, { recursive: true, force: true });
});

describe('deploy/config.example.yaml', () => {
  it('passes check-config with placeholder files in place of /etc/etcd-warden', async () => {
    await writeFile(join(dir, 'tls.crt'), await readFile(certs.serverCert));
    await writeFile(join(dir, 'tls.key'), await readFile(certs.serverKey));
    await writeFile(join(dir, 'htpasswd'), [htpasswdLine('root', 'pw', 'bcrypt'), htpasswdLine('conftool', 'pw', 'apr1')].join('\n') + '\n');
    const example = await readFile('deploy/config.example.yaml', 'utf8');
    expect(example).toContain('/etc/etcd-warden/tls.crt');
    await writeFile(join(dir, 'config.yaml'), example.replaceAll('/etc/etcd-warden/', dir + '/'));

    const result = await runCli(['check-config', '--config', join(dir, 'config.yaml')]);
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain('the configuration is valid (2 users, 3 ACL rules)');
    expect(result.code).toBe(0);
  });
});
