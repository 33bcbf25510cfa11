// The README's first commands start with `bash .ci/setup`: on a fresh Debian
// as root without sudo, as a user with sudo, and with everything already
// there. The system commands it calls (id, dpkg-query, apt-get, sudo,
// systemctl) are stand-ins on PATH that record what they were asked.
import { spawnSync } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const script = resolve('.ci/setup');
const bash = spawnSync('bash', ['-c', 'command -v bash']).stdout.toString().trim();

interface Machine {
  readonly uid: number;
  readonly sudo: boolean;
  readonly installed: readonly string[];
}

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

/** Runs .ci/setup on a pretend machine; returns its exit code, output and every system command it ran. */
async function setupOn(machine: Machine): Promise<{ code: number | null; output: string; ran: string[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'etcd-warden-setup-'));
  dirs.push(dir);
  const log = join(dir, 'ran.log');
  const stub = async (name: string, body: string): Promise<void> => {
    await writeFile(join(dir, name), `#!${bash}\necho "${name} $*" >> ${log}\n${body}\n`);
    await chmod(join(dir, name), 0o755);
  };
  await stub('id', `echo ${machine.uid}`);
  await stub('dpkg-query', `case " ${machine.installed.join(' ')} " in *" \${@: -1} "*) echo -n installed;; *) echo -n not-installed;; esac`);
  await stub('apt-get', 'exit 0');
  await stub('systemctl', 'exit 0');
  await stub('env', 'shift; "$@"');
  if (machine.sudo) await stub('sudo', '"$@"');
  const run = spawnSync(bash, [script], { env: { PATH: dir }, encoding: 'utf8' });
  const ran = await readFile(log, 'utf8').then((text) => text.trim().split('\n'), () => []);
  return { code: run.status, output: run.stdout + run.stderr, ran: ran.filter((line) => !line.startsWith('id ') && !line.startsWith('dpkg-query ')) };
}

const everything = ['etcd-server', 'etcd-client', 'openssl', 'apache2-utils', 'curl', 'python3-etcd', 'python3-etcd3', 'python3-etcd3gw'];
const freshDebian = ['openssl'];

describe('bash .ci/setup', () => {
  it('as root on a fresh Debian without sudo: installs what is missing with apt-get itself and stops the packaged etcd', async () => {
    const result = await setupOn({ uid: 0, sudo: false, installed: freshDebian });
    expect(result.code).toBe(0);
    expect(result.ran).toEqual([
      'apt-get update -qq',
      'env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server etcd-client apache2-utils curl python3-etcd python3-etcd3 python3-etcd3gw',
      'apt-get install -y -qq etcd-server etcd-client apache2-utils curl python3-etcd python3-etcd3 python3-etcd3gw',
      'systemctl disable --now etcd',
    ]);
  });

  it('as a user with sudo: the same through sudo', async () => {
    const result = await setupOn({ uid: 1000, sudo: true, installed: [...freshDebian, 'curl'] });
    expect(result.code).toBe(0);
    expect(result.ran.filter((line) => line.startsWith('sudo '))).toEqual([
      'sudo apt-get update -qq',
      'sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server etcd-client apache2-utils python3-etcd python3-etcd3 python3-etcd3gw',
      'sudo systemctl disable --now etcd',
    ]);
  });

  it('installs only what is missing, and leaves a running etcd alone when etcd-server was there already', async () => {
    const result = await setupOn({ uid: 0, sudo: false, installed: everything.filter((name) => name !== 'python3-etcd3gw') });
    expect(result.ran).toEqual(['apt-get update -qq', 'env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-etcd3gw', 'apt-get install -y -qq python3-etcd3gw']);
  });

  it('needs neither root nor sudo when everything is there', async () => {
    const result = await setupOn({ uid: 1000, sudo: false, installed: everything });
    expect(result.code).toBe(0);
    expect(result.ran).toEqual([]);
    expect(result.output).toContain('every package the tests need is installed');
  });

  it('as a user without sudo, with packages missing: exits 1 and prints the command to run as root', async () => {
    const result = await setupOn({ uid: 1000, sudo: false, installed: everything.filter((name) => name !== 'curl') });
    expect(result.code).toBe(1);
    expect(result.ran).toEqual([]);
    expect(result.output).toContain('apt-get update && apt-get install -y curl');
  });
});
