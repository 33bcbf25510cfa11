// The proxy benchmark of issue 2: etcd direct, the production nginx setup
// and etcd-warden side by side, driven by wrk from its own process, printed
// as one table with the issue's targets. Everything runs on 127.0.0.1, every
// run is bounded (BENCH_SECONDS, default 10), and every process and temp
// file is gone when it returns or fails.
import { copyFile, mkdir, readdir } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { startEtcd } from '../fixtures/etcd.js';
import { cleanUpAll, onCleanup } from './lib/cleanup.js';
import { summarizeCpuProfile } from './lib/cpu-profile.js';
import { makeHtpasswd, makeSelfSignedCertificate, type Htpasswd, type TlsFiles } from './lib/credentials.js';
import { getPath, loadRows, openPath, preflight, runMixed, runRow, serverTitles, type LoadShape, type RowId, type ServerName } from './lib/load-scenarios.js';
import { findNginx, startNginx } from './lib/nginx.js';
import { expectStatus, probe } from './lib/probe.js';
import { commandExists, openFileLimit } from './lib/processes.js';
import { anyTargetMissed, renderProxyReport, type MixedSet, type ProxiedServer, type ProxyBenchResults } from './lib/proxy-report.js';
import { startWarden } from './lib/warden.js';
import { makeWorkspace } from './lib/workspace.js';
import { measureWatchFanOut, type FanOutResult } from './lib/watch-fanout.js';
import { combineRuns, runWrk, type WrkResult } from './lib/wrk.js';

export interface ProxyBenchOptions {
  /** Length of each measured run. */
  readonly seconds: number;
  /** Open watches for the memory and fan-out figures. */
  readonly watches: number;
  /** Profile etcd-warden under GET load: when a target is missed (auto), always, or never. */
  readonly profile: 'auto' | 'always' | 'never';
  /** Keep the .cpuprofile here (open it in Chrome DevTools); otherwise it goes with the temp dir. */
  readonly profileOut?: string;
  readonly progress: (message: string) => void;
}

export const defaultProxyBenchOptions: ProxyBenchOptions = {
  seconds: Number(process.env.BENCH_SECONDS ?? 10),
  watches: Number(process.env.BENCH_WATCHES ?? 2000),
  profile: 'auto',
  progress: (message) => process.stderr.write(`bench: ${message}\n`),
};

const shape = (seconds: number): LoadShape => ({ threads: 2, connections: 32, seconds });

interface BenchSetup {
  readonly dir: string;
  readonly tls: TlsFiles;
  readonly htpasswd: Htpasswd;
  readonly etcdUrl: string;
  readonly origins: Partial<Record<ServerName, string>>;
  readonly nginxMissing?: string;
  readonly heading: string;
}

async function setUp(dir: string, options: ProxyBenchOptions): Promise<BenchSetup> {
  options.progress('making the certificate and the htpasswd file (bcrypt cost 10, apr1, SHA-512 crypt)');
  const [tls, htpasswd] = await Promise.all([makeSelfSignedCertificate(dir), makeHtpasswd(dir)]);
  options.progress('starting etcd');
  const etcd = await startEtcd('warden-bench');
  onCleanup('etcd', () => etcd.stop());
  for (const path of [getPath, openPath]) await expectStatus(`seed ${path}`, etcd.clientUrl + path, [200, 201], { method: 'PUT', body: 'value=x' });

  const nginxBinary = findNginx();
  let nginxMissing: string | undefined;
  const origins: Partial<Record<ServerName, string>> = { etcd: etcd.clientUrl };
  if (nginxBinary === undefined) nginxMissing = 'not installed (apt-get install -y nginx-light); its columns are empty';
  else {
    options.progress('starting nginx (production config)');
    origins.nginx = (await startNginx(nginxBinary, dir, etcd.clientUrl, tls, htpasswd.file)).url;
  }
  options.progress('starting etcd-warden');
  origins.warden = (await startWarden(dir, { name: 'warden', etcdOrigin: etcd.clientUrl, tls, htpasswd })).url;

  for (const [server, origin] of Object.entries(origins) as [ServerName, string][]) {
    for (const row of loadRows) await preflight(row, server, origin, htpasswd);
  }
  const etcdVersion = (await probe(`${etcd.clientUrl}/version`)).body.trim();
  const heading = [
    `etcd-warden proxy bench: wrk -t2 -c32 -d${options.seconds}s --latency, all on 127.0.0.1, ${availableParallelism()} CPUs`,
    `node ${process.version}, etcd ${etcdVersion}, ${nginxBinary === undefined ? 'no nginx' : `nginx (${nginxBinary}) worker_processes auto, no upstream keepalive`}; nginx and etcd-warden over TLS, etcd plain HTTP`,
  ].join('\n');
  return { dir, tls, htpasswd, etcdUrl: etcd.clientUrl, origins, heading, ...(nginxMissing === undefined ? {} : { nginxMissing }) };
}

async function measureThroughput(setup: BenchSetup, options: ProxyBenchOptions): Promise<ProxyBenchResults['throughput']> {
  const throughput: Partial<Record<RowId, Partial<Record<ServerName, WrkResult>>>> = {};
  const servers = Object.entries(setup.origins) as [ServerName, string][];
  const openRow = loadRows.find((row) => row.id === 'put-open');
  for (const [server, origin] of servers) {
    // Warm-up, not reported: JIT of both paths, TLS, etcd's first writes (the first
    // PUT runs of a fresh etcd measured 2× slower than later ones).
    options.progress(`warming up ${serverTitles[server]} (GET and PUT, 2 s each)`);
    await runWrk({ url: origin + getPath, ...shape(2) });
    if (openRow !== undefined) await runRow(openRow, server, origin, setup.htpasswd, shape(2));
  }
  const getRow = loadRows.find((row) => !row.put);
  if (getRow !== undefined) {
    const results: Partial<Record<ServerName, WrkResult>> = {};
    for (const [server, origin] of servers) {
      options.progress(`${serverTitles[server]}: ${getRow.label} (${options.seconds} s)`);
      results[server] = await runRow(getRow, server, origin, setup.htpasswd, shape(options.seconds));
    }
    throughput[getRow.id] = results;
  }
  // PUT rows in ABBA order, half the time each way: the auth rows are judged
  // against the open row, and a machine still warming up (or a noisy
  // neighbour) must not favour whichever row happens to run last.
  const putRows = loadRows.filter((row) => row.put);
  const half = Math.max(1, Math.round(options.seconds / 2));
  for (const [server, origin] of servers) {
    // etcd has no auth: one direct PUT run stands for every PUT row.
    const rows = server === 'etcd' ? putRows.slice(0, 1) : putRows;
    const runs = new Map<RowId, WrkResult[]>();
    for (const row of [...rows, ...[...rows].reverse()]) {
      options.progress(`${serverTitles[server]}: ${row.label} (${half} s, ABBA half)`);
      const result = await runRow(row, server, origin, setup.htpasswd, shape(half));
      runs.set(row.id, [...(runs.get(row.id) ?? []), result]);
    }
    for (const row of putRows) {
      const measured = runs.get(row.id) ?? runs.get(putRows[0]?.id ?? 'put-open');
      if (measured !== undefined) throughput[row.id] = { ...throughput[row.id], [server]: combineRuns(measured) };
    }
  }
  return throughput;
}

async function measureMixed(setup: BenchSetup, options: ProxyBenchOptions): Promise<ProxyBenchResults['mixed']> {
  const mixed: Partial<Record<ProxiedServer, MixedSet>> = {};
  for (const server of ['nginx', 'warden'] as const) {
    const origin = setup.origins[server];
    if (origin === undefined) continue;
    const title = serverTitles[server];
    const half = Math.max(1, Math.round(options.seconds / 2));
    // "Alone" is measured half before and half after the side loads, averaged (ABBA again).
    options.progress(`${title}: GET alone (${half} s, first half)`);
    const aloneBefore = await runMixed(origin, setup.htpasswd, shape(half), 'none');
    options.progress(`${title}: GET while 2 connections PUT as the bcrypt user (${options.seconds} s)`);
    const authPuts = await runMixed(origin, setup.htpasswd, shape(options.seconds), 'auth-puts');
    options.progress(`${title}: GET while 2 connections send wrong passwords (${options.seconds} s)`);
    const wrongPasswords = await runMixed(origin, setup.htpasswd, shape(options.seconds), 'wrong-passwords');
    options.progress(`${title}: GET alone (${half} s, second half)`);
    const aloneAfter = await runMixed(origin, setup.htpasswd, shape(half), 'none');
    const alone = { get: combineRuns([aloneBefore.get, aloneAfter.get]), side: aloneBefore.side };
    mixed[server] = { alone, authPuts, wrongPasswords };
  }
  return mixed;
}

async function measureWatches(setup: BenchSetup, options: ProxyBenchOptions): Promise<FanOutResult | { skipped: string }> {
  // Each watch holds a client socket and an upstream socket in the proxy, one in etcd and one here.
  const needed = 2 * options.watches + 500;
  const limit = await openFileLimit();
  if (limit < needed) return { skipped: `ulimit -n is ${limit}, ${options.watches} watches need ≥ ${needed}: run \`ulimit -n ${needed}\` first` };
  // A proxy of its own, so the baseline is not the heap left over from the load runs.
  const warden = await startWarden(setup.dir, { name: 'warden-watches', etcdOrigin: setup.etcdUrl, tls: setup.tls, htpasswd: setup.htpasswd });
  options.progress(`opening ${options.watches} watches through a fresh etcd-warden, then one write`);
  try {
    return await measureWatchFanOut({ proxyUrl: warden.url, etcdUrl: setup.etcdUrl, proxyPid: warden.daemon.pid, watches: options.watches, key: '/bench/watched' });
  } finally {
    await warden.daemon.stop();
  }
}

/** Runs a fresh proxy under `node --cpu-prof` through one GET load and summarises where its main thread spent the time. */
async function profileGetLoad(setup: BenchSetup, options: ProxyBenchOptions): Promise<string> {
  const profileDir = join(setup.dir, 'cpu-profile');
  await mkdir(profileDir);
  const warden = await startWarden(setup.dir, { name: 'warden-profiled', etcdOrigin: setup.etcdUrl, tls: setup.tls, htpasswd: setup.htpasswd, cpuProfileDir: profileDir });
  options.progress(`profiling etcd-warden (node --cpu-prof) under anonymous GET load (${options.seconds} s)`);
  await runWrk({ url: warden.url + getPath, ...shape(2) });
  const load = await runWrk({ url: warden.url + getPath, ...shape(options.seconds) });
  // The profile is written when the process exits normally (SIGTERM → drain → exit).
  await warden.daemon.stop(20_000);
  const file = (await readdir(profileDir)).find((name) => name.endsWith('.cpuprofile'));
  if (file === undefined) return `CPU profile: none written (did the proxy exit cleanly on SIGTERM?)`;
  if (options.profileOut !== undefined) await copyFile(join(profileDir, file), options.profileOut);
  const summary = await summarizeCpuProfile(join(profileDir, file));
  return [
    `CPU profile of etcd-warden under anonymous GET load (${formatLoad(load)}, profiler on)` +
      (options.profileOut === undefined ? '' : `; saved to ${options.profileOut}`),
    summary.text,
  ].join('\n');
}

function formatLoad(result: WrkResult): string {
  return `${Math.round(result.requestsPerSecond)} req/s, p99 ${result.p99Ms.toFixed(2)} ms`;
}

export async function benchProxy(overrides: Partial<ProxyBenchOptions> = {}): Promise<string> {
  const options: ProxyBenchOptions = { ...defaultProxyBenchOptions, ...overrides };
  if (!(Number.isFinite(options.seconds) && options.seconds >= 1)) throw new Error(`BENCH_SECONDS must be a number ≥ 1, got ${options.seconds}`);
  for (const tool of ['wrk', 'openssl', 'htpasswd']) {
    if (!(await commandExists(tool))) throw new Error(`${tool} is not installed; the bench needs: apt-get install -y wrk nginx-light apache2-utils`);
  }
  try {
    const dir = await makeWorkspace();
    const setup = await setUp(dir, options);
    const throughput = await measureThroughput(setup, options);
    const mixed = await measureMixed(setup, options);
    const fanOut = await measureWatches(setup, options);
    const results: ProxyBenchResults = {
      heading: setup.heading, throughput, mixed, fanOut,
      ...(setup.nginxMissing === undefined ? {} : { nginxMissing: setup.nginxMissing }),
    };
    const profile = options.profile === 'always' || (options.profile === 'auto' && anyTargetMissed(results)) ? await profileGetLoad(setup, options) : undefined;
    return renderProxyReport(results, profile);
  } finally {
    options.progress('stopping everything and removing the temp dir');
    await cleanUpAll();
  }
}
