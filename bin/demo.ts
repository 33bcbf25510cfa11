// `etcd-warden demo`: two local etcd clusters (primary and replica), a TLS
// proxy in front of each (the replica's read-only, with the bundled mirror
// feeding it from the primary), a generated password, and the commands to
// try. Ctrl-C stops everything it started and removes its temp dirs.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { hashPasswordBcrypt } from '../proxy/auth/password-hash.js';

const cli = fileURLToPath(new URL('./etcd-warden.js', import.meta.url));

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (address !== null && typeof address === 'object' ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

async function waitForHttp(url: string, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not up yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${what} did not come up at ${url} within 20 s`);
}

export async function demoCommand(): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'etcd-warden-demo-'));
  const children: ChildProcess[] = [];
  const cleanup = async (): Promise<void> => {
    await Promise.all(
      children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGTERM');
          }),
      ),
    );
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const start = (command: string, args: string[], logName: string): ChildProcess => {
      const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout?.resume();
      child.stderr?.resume();
      child.once('exit', (code, signal) => {
        if (!stopping) process.stderr.write(`demo: ${logName} exited (${code ?? signal}); Ctrl-C to stop the rest\n`);
      });
      children.push(child);
      return child;
    };
    let stopping = false;

    const etcdUrls: string[] = [];
    for (const name of ['primary', 'replica']) {
      const client = await freePort();
      const peer = await freePort();
      const url = `http://127.0.0.1:${client}`;
      start('etcd', [
        '--name', name, '--data-dir', join(dir, `etcd-${name}`),
        '--listen-client-urls', url, '--advertise-client-urls', url,
        '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
        '--initial-cluster', `${name}=http://127.0.0.1:${peer}`, '--enable-v2', '--log-level', 'error',
      ], `etcd ${name}`);
      await waitForHttp(`${url}/health`, `etcd ${name}`);
      etcdUrls.push(url);
    }
    const [primaryEtcd, replicaEtcd] = etcdUrls as [string, string];

    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'tls.key'), '-out', join(dir, 'tls.crt'), '-days', '2',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
    const password = randomBytes(9).toString('base64url');
    await writeFile(join(dir, 'htpasswd'), `root:${hashPasswordBcrypt(password)}\n`);

    for (const [key, value] of [['pools/eqiad/appservers/mw1001', '{"weight": 10, "pooled": "yes"}'], ['pools/eqiad/appservers/mw1002', '{"weight": 10, "pooled": "no"}']] as const) {
      await fetch(`${primaryEtcd}/v2/keys/conftool/v1/${key}`, { method: 'PUT', body: new URLSearchParams({ value }) });
    }

    const proxyPorts = { primary: await freePort(), replica: await freePort() };
    const mirrorPort = await freePort();
    for (const name of ['primary', 'replica'] as const) {
      const config = {
        listen: `127.0.0.1:${proxyPorts[name]}`,
        tls: { cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key') },
        upstream: name === 'primary' ? primaryEtcd : replicaEtcd,
        readOnly: name === 'replica',
        htpasswd: join(dir, 'htpasswd'),
        acls: { '/': ['root'], '/conftool': ['root'] },
        metrics: false,
        logLevel: 'warn',
        ...(name === 'replica' ? { mirror: { src: primaryEtcd, srcPrefix: '/conftool', dstPrefix: '/conftool', port: mirrorPort, reload: true } } : {}),
      };
      await writeFile(join(dir, `${name}.yaml`), stringify(config));
      start(process.execPath, [cli, 'proxy', '--config', join(dir, `${name}.yaml`)], `proxy ${name}`);
    }
    const primary = `https://127.0.0.1:${proxyPorts.primary}`;
    const replica = `https://127.0.0.1:${proxyPorts.replica}`;
    await waitForHttp(`http://127.0.0.1:${mirrorPort}/lag`, 'the mirror');

    process.stdout.write(`
etcd-warden demo is running (temp dir ${dir})

  primary etcd   ${primaryEtcd}   behind the proxy at ${primary}
  replica etcd   ${replicaEtcd}   behind the read-only proxy at ${replica}
  mirror         primary /conftool -> replica /conftool, status at http://127.0.0.1:${mirrorPort}/lag
  credentials    root / ${password}   (printed once; the htpasswd holds a bcrypt hash)

Try:
  curl -sk ${primary}/v2/keys/conftool/v1/pools/eqiad/appservers/mw1001
  curl -sk -u root:${password} -XPUT ${primary}/v2/keys/conftool/v1/pools/eqiad/appservers/mw1003 -d value='{"weight": 5, "pooled": "yes"}'
  curl -sk -u root:${password} -XPUT ${replica}/v2/keys/conftool/v1/pools/eqiad/appservers/mw1003 -d value='{"weight": 5, "pooled": "yes"}'
  (the last one is refused: the replica is read-only; the mirror carries the write there instead)
  curl -sk ${replica}/v2/keys/conftool/v1/pools/eqiad/appservers/mw1003

Ctrl-C stops everything.
`);
    const demoWrite = await fetch(`${primaryEtcd}/v2/keys/conftool/v1/demo/started`, { method: 'PUT', body: new URLSearchParams({ value: new Date().toISOString() }) });
    const index = demoWrite.headers.get('x-etcd-index');
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const replicated = await fetch(`${replicaEtcd}/v2/keys/conftool/v1/demo/started`);
      if (replicated.ok) {
        process.stdout.write(`a write to the primary (index ${index}) has arrived on the replica: replication is running\n`);
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }

    await new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    });
    stopping = true;
    process.stdout.write('stopping the demo\n');
    await cleanup();
    return 0;
  } catch (error) {
    process.stderr.write(`demo failed: ${(error as Error).message}\n`);
    await cleanup();
    return 1;
  }
}
