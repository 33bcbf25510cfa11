// etcd-warden as an operator would run it: the compiled CLI, TLS, the same
// htpasswd as nginx, access log at info (to a file, as journald would take it).
import { readFile, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import type { Htpasswd, TlsFiles } from './credentials.js';
import { startDaemon, waitFor, type Daemon } from './processes.js';

// dist/test/bench/lib/warden.js → dist/bin/etcd-warden.js
const cliPath = fileURLToPath(new URL('../../../bin/etcd-warden.js', import.meta.url));

export interface WardenServer {
  readonly url: string;
  readonly workers: number;
  readonly daemon: Daemon;
}

export interface WardenOptions {
  /** Distinguishes the files of several instances in one workspace. */
  readonly name: string;
  readonly etcdOrigin: string;
  readonly tls: TlsFiles;
  readonly htpasswd: Htpasswd;
  /**
   * Proxy processes (the config's `workers:`), always written out: the product's
   * default follows the CPU count, and a bench row must say what it ran. Default
   * here: one per CPU, as the product would choose.
   */
  readonly workers?: number;
  /** When set, the proxy runs under `node --cpu-prof` and writes its profile here on exit. */
  readonly cpuProfileDir?: string;
}

export async function startWarden(dir: string, options: WardenOptions): Promise<WardenServer> {
  const { writers, root } = options.htpasswd;
  const config = {
    listen: '127.0.0.1:0',
    tls: { cert: options.tls.cert, key: options.tls.key },
    upstream: options.etcdOrigin,
    htpasswd: options.htpasswd.file,
    acls: {
      '/': [root.name],
      '/bench': [writers.bcrypt.name, writers.apr1.name, writers.sha512.name],
      '/open': [],
    },
    metrics: false,
    logLevel: 'info',
    workers: options.workers ?? availableParallelism(),
  };
  const configFile = join(dir, `${options.name}.yaml`);
  await writeFile(configFile, stringify(config));
  const nodeArgs = options.cpuProfileDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', options.cpuProfileDir];
  const logFile = join(dir, `${options.name}.log`);
  const daemon = startDaemon(options.name, process.execPath, [...nodeArgs, cliPath, 'proxy', '--config', configFile], logFile);
  const address = await waitFor(daemon, '"proxy listening" log line', async () => {
    for (const line of (await readFile(logFile, 'utf8')).split('\n')) {
      if (!line.includes('proxy listening')) continue;
      const parsed = JSON.parse(line) as { address?: unknown };
      if (typeof parsed.address === 'string') return parsed.address;
    }
    return undefined;
  });
  const port = new URL(address).port;
  return { url: `https://127.0.0.1:${port}`, workers: config.workers, daemon };
}
