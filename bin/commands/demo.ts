// `etcd-warden demo`: two local etcd clusters (primary and replica), a TLS
// proxy in front of each (the replica's read-only, with the bundled mirror
// feeding it from the primary), a generated password, and the commands to
// try. Ctrl-C stops everything it started and removes its temp dir.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { EtcdClient } from '../../mirror/etcd/client.js';
import { hashPasswordBcrypt } from '../../proxy/auth/password-hash.js';
import { runCommand, UsageError, type CommandIo } from './flags.js';
import { createProber } from './probe.js';

const cli = fileURLToPath(new URL('../etcd-warden.js', import.meta.url));

class DemoInterrupted extends Error {
  readonly code = 'ETCD_WARDEN_DEMO_INTERRUPTED';
  constructor() {
    super('interrupted');
  }
}

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

export function demoCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  return runCommand(argv, { name: 'demo', usage: 'usage: etcd-warden demo', flags: {}, usageExitCode: 2 }, io, async ({ positional }) => {
    if (positional.length > 0) throw new UsageError(`unexpected argument ${positional[0] ?? ''}`);
    return runDemo(io);
  });
}

async function runDemo({ out, err }: CommandIo): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'etcd-warden-demo-'));
  const children: ChildProcess[] = [];
  const prober = createProber({ timeoutMs: 1_000 });
  const clients: EtcdClient[] = [];
  let stopping = false;
  // Listening from the very start: a Ctrl-C while the clusters are still
  // coming up must clean up too, not leave etcds and a temp dir behind.
  const interrupted = new Promise<void>((resolve) => {
    const stop = (): void => {
      stopping = true;
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  const cleanup = async (): Promise<void> => {
    stopping = true;
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
    await Promise.all([prober.close(), ...clients.map((client) => client.close())]);
    await rm(dir, { recursive: true, force: true });
  };
  const start = (command: string, args: string[], logName: string): void => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.resume();
    child.stderr?.resume();
    child.once('error', (error) => err.write(`demo: cannot start ${logName}: ${error.message}\n`));
    child.once('exit', (code, signal) => {
      if (!stopping) err.write(`demo: ${logName} exited (${code ?? signal}); Ctrl-C to stop the rest\n`);
    });
    children.push(child);
  };
  const waitForHttp = async (url: string, what: string): Promise<void> => {
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (stopping) throw new DemoInterrupted();
      if (await prober.get(url).then((answer) => answer.status < 300, () => false)) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`${what} did not come up at ${url} within 20 s`);
  };

  try {
    try {
      execFileSync('etcd', ['--version'], { stdio: 'ignore' });
    } catch {
      throw new Error('etcd is not installed: sudo apt-get install -y etcd-server (then sudo systemctl disable --now etcd)');
    }
    // As production must run etcd behind the proxy: its client listener on
    // loopback, advertising the PROXY's URL, so clients that sync the member
    // list (etcdctl, python-etcd allow_reconnect) stay on the proxy. The
    // proxies' ports are picked first for that.
    const ports = { primary: await freePort(), replica: await freePort() };
    const primary = `https://127.0.0.1:${ports.primary}`;
    const replica = `https://127.0.0.1:${ports.replica}`;
    const etcdUrls: string[] = [];
    for (const name of ['primary', 'replica'] as const) {
      const client = await freePort();
      const peer = await freePort();
      const url = `http://127.0.0.1:${client}`;
      start('etcd', [
        '--name', name, '--data-dir', join(dir, `etcd-${name}`),
        '--listen-client-urls', url, '--advertise-client-urls', name === 'primary' ? primary : replica,
        '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
        '--initial-cluster', `${name}=http://127.0.0.1:${peer}`, '--enable-v2', '--log-level', 'error',
      ], `etcd ${name}`);
      await waitForHttp(`${url}/health`, `etcd ${name}`);
      etcdUrls.push(url);
    }
    const [primaryEtcd, replicaEtcd] = etcdUrls as [string, string];
    const primaryClient = new EtcdClient(primaryEtcd);
    clients.push(primaryClient);

    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'tls.key'), '-out', join(dir, 'tls.crt'), '-days', '2',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
    const password = randomBytes(9).toString('base64url');
    await writeFile(join(dir, 'htpasswd'), `root:${hashPasswordBcrypt(password)}\n`);

    for (const [key, value] of [['pools/eqiad/appservers/mw1001', '{"weight": 10, "pooled": "yes"}'], ['pools/eqiad/appservers/mw1002', '{"weight": 10, "pooled": "no"}']] as const) {
      await primaryClient.put(`/conftool/v1/${key}`, { value });
    }

    const metricsPorts = { primary: await freePort(), replica: await freePort() };
    const mirrorPort = await freePort();
    for (const name of ['primary', 'replica'] as const) {
      const config = {
        listen: `127.0.0.1:${ports[name]}`,
        advertise: name === 'primary' ? primary : replica,
        tls: { cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key') },
        upstream: name === 'primary' ? primaryEtcd : replicaEtcd,
        readOnly: name === 'replica',
        htpasswd: join(dir, 'htpasswd'),
        acls: { '/': ['root'], '/conftool': ['root'] },
        metrics: `127.0.0.1:${metricsPorts[name]}`,
        logLevel: 'warn',
        // Two proxies, two etcds and a mirror on one laptop: one process each is plenty.
        workers: 1,
        ...(name === 'replica' ? { mirror: { src: primaryEtcd, srcPrefix: '/conftool', dstPrefix: '/conftool', port: mirrorPort, reload: true } } : {}),
      };
      await writeFile(join(dir, `${name}.yaml`), stringify(config));
      start(process.execPath, [cli, 'proxy', '--config', join(dir, `${name}.yaml`)], `proxy ${name}`);
    }
    const metrics = { primary: `http://127.0.0.1:${metricsPorts.primary}`, replica: `http://127.0.0.1:${metricsPorts.replica}` };
    const mirror = `http://127.0.0.1:${mirrorPort}`;
    await waitForHttp(`${metrics.primary}/healthz`, 'the primary proxy');
    await waitForHttp(`${metrics.replica}/healthz`, 'the replica proxy');
    await waitForHttp(`${mirror}/lag`, 'the mirror');

    const newKey = 'conftool/v1/pools/eqiad/appservers/mw1003';
    const newValue = `'{"weight": 5, "pooled": "yes"}'`;
    out.write(`
etcd-warden demo is running (temp dir ${dir})

  primary etcd   ${primaryEtcd}   behind the proxy at ${primary}   (metrics ${metrics.primary})
  replica etcd   ${replicaEtcd}   behind the read-only proxy at ${replica}   (metrics ${metrics.replica})
  each etcd listens on loopback only and advertises its proxy's URL, as production must
  mirror         primary /conftool -> replica /conftool, status at ${mirror}/lag
  credentials    root / ${password}   (printed once; the htpasswd holds a bcrypt hash)

Try:
  curl -sk ${primary}/v2/keys/conftool/v1/pools/eqiad/appservers/mw1001
  curl -sk -u root:${password} -XPUT ${primary}/v2/keys/${newKey} -d value=${newValue}
  curl -sk -u root:${password} -XPUT ${replica}/v2/keys/${newKey} -d value=${newValue}
  (the last one is refused: the replica is read-only; the mirror carries the write there instead)
  curl -sk ${replica}/v2/keys/${newKey}

Clients that sync the member list (etcdctl by default) stay on the proxy, so its ACLs hold:
  ETCDCTL_API=2 etcdctl --endpoints ${primary} --ca-file ${join(dir, 'tls.crt')} set /conftool/v1/demo/etcdctl anonymous
  ETCDCTL_API=2 etcdctl --endpoints ${primary} --ca-file ${join(dir, 'tls.crt')} -u root:${password} set /conftool/v1/demo/etcdctl root
  (the first one is refused: no credentials)

Operator commands:
  node ${cli} health --endpoints ${replica} --ca ${join(dir, 'tls.crt')} --proxy-health ${metrics.replica} --expect-read-only true --mirror ${mirror}
  node ${cli} mirror-status ${mirror}
  node ${cli} mirror-verify --src-prefix /conftool --dst-prefix /conftool --strip ${primaryEtcd} ${replicaEtcd}

Ctrl-C stops everything.
`);
    const index = (await primaryClient.put('/conftool/v1/demo/started', { value: new Date().toISOString() })).etcdIndex;
    try {
      await waitForHttp(`${replicaEtcd}/v2/keys/conftool/v1/demo/started`, 'the demo write on the replica');
      out.write(`a write to the primary (index ${index}) has arrived on the replica: replication is running\n`);
    } catch (error) {
      if (error instanceof DemoInterrupted) throw error;
      err.write(`demo: a write to the primary (index ${index}) has not reached the replica; see ${mirror}/metrics\n`);
    }
    await interrupted;
    out.write('stopping the demo\n');
    await cleanup();
    return 0;
  } catch (error) {
    if (error instanceof DemoInterrupted) {
      out.write('stopping the demo\n');
      await cleanup();
      return 0;
    }
    err.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
    await cleanup();
    return 1;
  }
}
