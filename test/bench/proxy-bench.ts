// The proxy benchmark of issues 2 and 13: etcd direct, the production nginx
// setup and etcd-warden with `workers: 1` and `workers: 2` side by side,
// driven by wrk from its own process, printed as tables with the issues'
// targets. Everything runs on 127.0.0.1, every run is bounded (BENCH_SECONDS,
// default 10), and every process and temp file is gone when it returns or
// fails. Proxy costs (CPU, RSS) are of the whole process tree: nginx's master
// and workers, etcd-warden's primary, workers and their threads.
import { copyFile, mkdir, readdir } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { startEtcd } from '../fixtures/etcd.js';
import { cleanUpAll, onCleanup } from './lib/cleanup.js';
import { summarizeCpuProfile } from './lib/cpu-profile.js';
import { makeHtpasswd, makeSelfSignedCertificate, type Htpasswd, type TlsFiles } from './lib/credentials.js';
import {
  getPath, loadRows, openPath, preflight, proxiedServers, runMixed, runRow, serverTitles, wardenNames, wardenWorkers,
  type LoadShape, type ProxiedServer, type RowId, type ServerName,
} from './lib/load-scenarios.js';
import { findNginx, startNginx } from './lib/nginx.js';
import { expectStatus, probe } from './lib/probe.js';
import { treeRss, withTreeCpu, type TreeRss } from './lib/proc-tree.js';
import { commandExists, sleep } from './lib/processes.js';
import { anyTargetMissed, renderLargeWatchReport, renderProxyReport, type GetRun, type MixedSet, type ProxyBenchResults } from './lib/proxy-report.js';
import { measureWatchRow, type WatchRow, type WatchServers } from './lib/proxy-watches.js';
import { startWarden } from './lib/warden.js';
import { makeWorkspace } from './lib/workspace.js';
import { combineRuns, runWrk, type WrkResult } from './lib/wrk.js';

export interface ProxyBenchOptions {
  /** Length of each measured run. */
  readonly seconds: number;
  /** Interleaved rounds of the GET row (nginx, ×1, ×2, then again), for the spread. */
  readonly rounds: number;
  /** Open watches for the memory and fan-out figures, every proxy. */
  readonly watches: number;
  /** The large watch row (warden ×2, and nginx when its connection limit allows). */
  readonly largeWatches: number;
  /** Everything, or only the large watch row (`--only proxy-watches`). */
  readonly part: 'all' | 'large-watches';
  /** Profile etcd-warden under GET load: when a target is missed (auto), always, or never. */
  readonly profile: 'auto' | 'always' | 'never';
  /** Keep the .cpuprofile here (open it in Chrome DevTools); otherwise it goes with the temp dir. */
  readonly profileOut?: string;
  readonly progress: (message: string) => void;
}

export const defaultProxyBenchOptions: ProxyBenchOptions = {
  seconds: Number(process.env.BENCH_SECONDS ?? 10),
  rounds: Number(process.env.BENCH_ROUNDS ?? 3),
  watches: Number(process.env.BENCH_WATCHES ?? 2000),
  largeWatches: Number(process.env.BENCH_WATCHES_LARGE ?? 10_000),
  part: 'all',
  profile: 'auto',
  progress: (message) => process.stderr.write(`bench: ${message}\n`),
};

const shape = (seconds: number): LoadShape => ({ threads: 2, connections: 32, seconds });

/** "Idle right after start" is read this long after the server says it listens (issue 13). */
const idleSettleMs = 3000;

interface Served {
  readonly origin: string;
  /** Root of the process tree whose CPU and RSS are the proxy's cost; none for etcd (not measured). */
  readonly pid?: number;
}

interface BenchBase {
  readonly dir: string;
  readonly tls: TlsFiles;
  readonly htpasswd: Htpasswd;
  readonly etcdUrl: string;
  readonly etcdVersion: string;
  readonly nginxBinary?: string;
}

interface BenchSetup extends BenchBase {
  readonly servers: Partial<Record<ServerName, Served>>;
  readonly idleRss: Partial<Record<ProxiedServer, TreeRss>>;
  readonly nginxMissing?: string;
}

async function setUpBase(options: ProxyBenchOptions): Promise<BenchBase> {
  const dir = await makeWorkspace();
  options.progress('making the certificate and the htpasswd file (bcrypt cost 10, apr1, SHA-512 crypt)');
  const [tls, htpasswd] = await Promise.all([makeSelfSignedCertificate(dir), makeHtpasswd(dir)]);
  options.progress('starting etcd');
  const etcd = await startEtcd('warden-bench');
  onCleanup('etcd', () => etcd.stop());
  for (const path of [getPath, openPath]) await expectStatus(`seed ${path}`, etcd.clientUrl + path, [200, 201], { method: 'PUT', body: 'value=x' });
  const etcdVersion = (await probe(`${etcd.clientUrl}/version`)).body.trim();
  const nginxBinary = findNginx();
  return { dir, tls, htpasswd, etcdUrl: etcd.clientUrl, etcdVersion, ...(nginxBinary === undefined ? {} : { nginxBinary }) };
}

async function setUpServers(base: BenchBase, options: ProxyBenchOptions): Promise<BenchSetup> {
  const servers: Partial<Record<ServerName, Served>> = { etcd: { origin: base.etcdUrl } };
  const idleRss: Partial<Record<ProxiedServer, TreeRss>> = {};
  const idle = async (server: ProxiedServer, pid: number): Promise<void> => {
    await sleep(idleSettleMs);
    idleRss[server] = await treeRss(pid);
  };
  let nginxMissing: string | undefined;
  if (base.nginxBinary === undefined) nginxMissing = 'not installed (apt-get install -y nginx-light); its columns are empty';
  else {
    options.progress('starting nginx (production config)');
    const nginx = await startNginx(base.nginxBinary, base.dir, base.etcdUrl, base.tls, base.htpasswd.file);
    servers.nginx = { origin: nginx.url, pid: nginx.daemon.pid };
    await idle('nginx', nginx.daemon.pid);
  }
  for (const name of wardenNames) {
    options.progress(`starting ${serverTitles[name]} (workers: ${wardenWorkers[name]})`);
    const warden = await startWarden(base.dir, { name, etcdOrigin: base.etcdUrl, tls: base.tls, htpasswd: base.htpasswd, workers: wardenWorkers[name] });
    servers[name] = { origin: warden.url, pid: warden.daemon.pid };
    await idle(name, warden.daemon.pid);
  }
  for (const [server, served] of Object.entries(servers) as [ServerName, Served][]) {
    for (const row of loadRows) await preflight(row, server, served.origin, base.htpasswd);
  }
  return { ...base, servers, idleRss, ...(nginxMissing === undefined ? {} : { nginxMissing }) };
}

function heading(base: BenchBase, options: ProxyBenchOptions): string {
  if (options.part === 'large-watches') {
    return [
      `etcd-warden proxy bench, large watch row only: ${options.largeWatches.toLocaleString('en-US')} watches through etcd-warden ×2 (workers: 2), nginx if its connection limit allows; all on 127.0.0.1, ${availableParallelism()} CPUs`,
      `node ${process.version}, etcd ${base.etcdVersion}; RSS and CPU of the whole process tree, from /proc`,
    ].join('\n');
  }
  const rounds = `${options.rounds} interleaved round${options.rounds === 1 ? '' : 's'}`;
  return [
    `etcd-warden proxy bench: wrk -t2 -c32 -d${options.seconds}s --latency (PUT rows: 2 × ${half(options)} s, ABBA), anonymous GET in ${rounds}; all on 127.0.0.1, ${availableParallelism()} CPUs`,
    `node ${process.version}, etcd ${base.etcdVersion}, ${base.nginxBinary === undefined ? 'no nginx' : `nginx (${base.nginxBinary}) worker_processes auto, no upstream keepalive`}; etcd-warden with workers: 1 (×1) and workers: 2 (×2); proxies over TLS, etcd plain HTTP`,
    'proxy CPU and RSS: the whole process tree (nginx master + workers; warden primary + workers, all threads), from /proc',
  ].join('\n');
}

const half = (options: ProxyBenchOptions): number => Math.max(1, Math.round(options.seconds / 2));

function served(setup: BenchSetup): [ServerName, Served][] {
  return Object.entries(setup.servers) as [ServerName, Served][];
}

async function warmUp(setup: BenchSetup, options: ProxyBenchOptions): Promise<void> {
  const openRow = loadRows.find((row) => row.id === 'put-open');
  for (const [server, { origin }] of served(setup)) {
    // Warm-up, not reported: JIT of both paths, TLS, etcd's first writes (the first
    // PUT runs of a fresh etcd measured 2× slower than later ones).
    options.progress(`warming up ${serverTitles[server]} (GET and PUT, 2 s each)`);
    await runWrk({ url: origin + getPath, ...shape(2) });
    if (openRow !== undefined) await runRow(openRow, server, origin, setup.htpasswd, shape(2));
  }
}

/**
 * The GET row, round after round through every server in turn, so a noisy
 * neighbour or a warming machine spreads over all of them instead of landing
 * on one column; the spread between rounds is itself a result (issue 13).
 */
async function measureGetRounds(setup: BenchSetup, options: ProxyBenchOptions): Promise<Partial<Record<ServerName, GetRun[]>>> {
  const getRow = loadRows.find((row) => !row.put);
  const runs: Partial<Record<ServerName, GetRun[]>> = {};
  if (getRow === undefined) return runs;
  for (let round = 1; round <= options.rounds; round++) {
    for (const [server, { origin, pid }] of served(setup)) {
      options.progress(`round ${round}/${options.rounds}: ${serverTitles[server]}: ${getRow.label} (${options.seconds} s)`);
      const run = (): Promise<WrkResult> => runRow(getRow, server, origin, setup.htpasswd, shape(options.seconds));
      const measured: GetRun = pid === undefined ? { wrk: await run() } : await withTreeCpu(pid, run).then(({ result, cpuSeconds }) => ({ wrk: result, cpuSeconds }));
      runs[server] = [...(runs[server] ?? []), measured];
    }
  }
  return runs;
}

async function measurePuts(setup: BenchSetup, options: ProxyBenchOptions): Promise<ProxyBenchResults['throughput']> {
  const throughput: Partial<Record<RowId, Partial<Record<ServerName, WrkResult>>>> = {};
  // PUT rows in ABBA order, half the time each way: the auth rows are judged
  // against the open row, and a machine still warming up (or a noisy
  // neighbour) must not favour whichever row happens to run last.
  const putRows = loadRows.filter((row) => row.put);
  for (const [server, { origin }] of served(setup)) {
    // etcd has no auth: one direct PUT run stands for every PUT row.
    const rows = server === 'etcd' ? putRows.slice(0, 1) : putRows;
    const runs = new Map<RowId, WrkResult[]>();
    for (const row of [...rows, ...[...rows].reverse()]) {
      options.progress(`${serverTitles[server]}: ${row.label} (${half(options)} s, ABBA half)`);
      const result = await runRow(row, server, origin, setup.htpasswd, shape(half(options)));
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
  for (const server of proxiedServers) {
    const origin = setup.servers[server]?.origin;
    if (origin === undefined) continue;
    const title = serverTitles[server];
    // "Alone" is measured half before and half after the side loads, averaged (ABBA again).
    options.progress(`${title}: GET alone (${half(options)} s, first half)`);
    const aloneBefore = await runMixed(origin, setup.htpasswd, shape(half(options)), 'none');
    options.progress(`${title}: GET while 2 connections PUT as the bcrypt user (${options.seconds} s)`);
    const authPuts = await runMixed(origin, setup.htpasswd, shape(options.seconds), 'auth-puts');
    options.progress(`${title}: GET while 2 connections send wrong passwords (${options.seconds} s)`);
    const wrongPasswords = await runMixed(origin, setup.htpasswd, shape(options.seconds), 'wrong-passwords');
    options.progress(`${title}: GET alone (${half(options)} s, second half)`);
    const aloneAfter = await runMixed(origin, setup.htpasswd, shape(half(options)), 'none');
    const alone = { get: combineRuns([aloneBefore.get, aloneAfter.get]), side: aloneBefore.side };
    mixed[server] = { alone, authPuts, wrongPasswords };
  }
  return mixed;
}

function watchServers(base: BenchBase): WatchServers {
  return { dir: base.dir, etcdUrl: base.etcdUrl, tls: base.tls, htpasswd: base.htpasswd, ...(base.nginxBinary === undefined ? {} : { nginxBinary: base.nginxBinary }) };
}

async function measureWatches(base: BenchBase, options: ProxyBenchOptions, servers: readonly ProxiedServer[]): Promise<Partial<Record<ProxiedServer, WatchRow>>> {
  const rows: Partial<Record<ProxiedServer, WatchRow>> = {};
  for (const server of servers) rows[server] = await measureWatchRow(watchServers(base), server, options.watches, options.progress);
  return rows;
}

async function measureLargeWatches(base: BenchBase, options: ProxyBenchOptions): Promise<ProxyBenchResults['largeWatches']> {
  return {
    nginx: await measureWatchRow(watchServers(base), 'nginx', options.largeWatches, options.progress),
    warden2: await measureWatchRow(watchServers(base), 'warden2', options.largeWatches, options.progress),
  };
}

/** Runs a fresh single-process proxy under `node --cpu-prof` through one GET load and summarises where its main thread spent the time. */
async function profileGetLoad(setup: BenchSetup, options: ProxyBenchOptions): Promise<string> {
  const profileDir = join(setup.dir, 'cpu-profile');
  await mkdir(profileDir);
  // workers: 1, so there is one profile and it is of the process that served.
  const warden = await startWarden(setup.dir, { name: 'warden-profiled', etcdOrigin: setup.etcdUrl, tls: setup.tls, htpasswd: setup.htpasswd, cpuProfileDir: profileDir, workers: 1 });
  options.progress(`profiling etcd-warden ×1 (node --cpu-prof) under anonymous GET load (${options.seconds} s)`);
  await runWrk({ url: warden.url + getPath, ...shape(2) });
  const load = await runWrk({ url: warden.url + getPath, ...shape(options.seconds) });
  // The profile is written when the process exits normally (SIGTERM → drain → exit).
  await warden.daemon.stop(20_000);
  const file = (await readdir(profileDir)).find((name) => name.endsWith('.cpuprofile'));
  if (file === undefined) return `CPU profile: none written (did the proxy exit cleanly on SIGTERM?)`;
  if (options.profileOut !== undefined) await copyFile(join(profileDir, file), options.profileOut);
  const summary = await summarizeCpuProfile(join(profileDir, file));
  return [
    `CPU profile of etcd-warden ×1 under anonymous GET load (${Math.round(load.requestsPerSecond)} req/s, p99 ${load.p99Ms.toFixed(2)} ms, profiler on)` +
      (options.profileOut === undefined ? '' : `; saved to ${options.profileOut}`),
    summary.text,
  ].join('\n');
}

function checkOptions(options: ProxyBenchOptions): void {
  const whole = (name: string, value: number, least: number): void => {
    if (!(Number.isInteger(value) && value >= least)) throw new Error(`${name} must be a whole number ≥ ${least}, got ${value}`);
  };
  if (!(Number.isFinite(options.seconds) && options.seconds >= 1)) throw new Error(`BENCH_SECONDS must be a number ≥ 1, got ${options.seconds}`);
  whole('BENCH_ROUNDS', options.rounds, 1);
  whole('BENCH_WATCHES', options.watches, 1);
  whole('BENCH_WATCHES_LARGE', options.largeWatches, 1);
}

export async function benchProxy(overrides: Partial<ProxyBenchOptions> = {}): Promise<string> {
  const options: ProxyBenchOptions = { ...defaultProxyBenchOptions, ...overrides };
  checkOptions(options);
  for (const tool of ['wrk', 'openssl', 'htpasswd']) {
    if (!(await commandExists(tool))) throw new Error(`${tool} is not installed; the bench needs: apt-get install -y wrk nginx-light apache2-utils`);
  }
  try {
    const base = await setUpBase(options);
    if (options.part === 'large-watches') return renderLargeWatchReport(heading(base, options), await measureLargeWatches(base, options));
    const setup = await setUpServers(base, options);
    await warmUp(setup, options);
    const getRuns = await measureGetRounds(setup, options);
    const throughput = await measurePuts(setup, options);
    const mixed = await measureMixed(setup, options);
    const watches = await measureWatches(base, options, proxiedServers.filter((server) => setup.servers[server] !== undefined));
    const largeWatches = await measureLargeWatches(base, options);
    const finalRss: Partial<Record<ProxiedServer, TreeRss>> = {};
    for (const server of proxiedServers) {
      const pid = setup.servers[server]?.pid;
      if (pid !== undefined) finalRss[server] = await treeRss(pid);
    }
    const results: ProxyBenchResults = {
      heading: heading(base, options), rounds: options.rounds, getRuns, throughput, mixed, watches, largeWatches, idleRss: setup.idleRss, finalRss,
      ...(setup.nginxMissing === undefined ? {} : { nginxMissing: setup.nginxMissing }),
    };
    const profile = options.profile === 'always' || (options.profile === 'auto' && anyTargetMissed(results)) ? await profileGetLoad(setup, options) : undefined;
    return renderProxyReport(results, profile);
  } finally {
    options.progress('stopping everything and removing the temp dir');
    await cleanUpAll();
  }
}
