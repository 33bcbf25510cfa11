// v3 mirror benchmark: two real etcds, our v3 mirror and `etcdctl
// make-mirror` in turn on the same two etcds, the same paced rates and
// bursts, then a kill -9 of each mid-burst; then the v2 → v3 migration.
// Each event's lag is measured the same way for both mirrors (a watch on the
// destination sees each written number arrive: mirror-v3-load.ts).
// Run: npx tsc -p tsconfig.json && node dist/test/bench/mirror-v3-bench.js
// BENCH_SECONDS (default 10) sets the length of each paced run.
import { spawn, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Pool } from 'undici';
import { EtcdV3Client } from '../../mirror/etcd/v3/client.js';
import { keyFromText, keyText, prefixInterval } from '../../mirror/etcd/v3/keys.js';
import { mirrorNodeFlags } from '../../mirror/options.js';
import { readRange } from '../../mirror/v3/reads.js';
import { startEtcd, type EtcdProcess } from '../fixtures/etcd.js';
import { cleanUpAll, trackChild } from './lib/cleanup.js';
import { Arrivals, burst, pacedWrites, v2Writer, v3Writer, WriteLog, type Writer } from './lib/mirror-v3-load.js';
import { formatMs, formatRate, renderTable } from './lib/table.js';

const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const v3Rates = [1_000, 2_000, 4_000, 8_000];
const v2Rates = [1_000, 2_000, 4_000];
const seedKeys = 5_000;
const burstSize = 10_000;

interface Contender {
  readonly name: string;
  /** Destination prefix the watch observes. */
  readonly observed: string;
  start(): ChildProcess;
  /** Resolves once the mirror has copied the prefix and follows it. */
  ready(arrivals: Arrivals): Promise<void>;
}

interface ContenderResult {
  readonly rates: ReadonlyMap<number, { written: number; mirrored: number; p99: number; max: number }>;
  readonly burstCatchUpMs: number | undefined;
  readonly burstWrittenMs: number;
  readonly afterKill: { readonly writes: number; readonly caughtUpMs: number | undefined; readonly repeats: number };
}

function progress(line: string): void {
  process.stderr.write(`mirror-v3-bench: ${line}\n`);
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (await check().catch(() => false)) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}

async function killHard(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

/** Source prefix and destination prefix hold the same keys and values. */
async function sameState(src: EtcdV3Client, sourcePrefix: string, dst: EtcdV3Client, replicaPrefix: string): Promise<boolean> {
  const read = async (client: EtcdV3Client, prefix: string): Promise<string> =>
    (await readRange(client, prefixInterval(keyFromText(prefix)))).kvs.map((kv) => `${keyText(kv.key).slice(prefix.length)}=${kv.value.toString()}`).join('\n');
  return (await read(src, sourcePrefix)) === (await read(dst, replicaPrefix));
}

async function measure(contender: Contender, write: Writer, src: EtcdV3Client, dst: EtcdV3Client, log: WriteLog): Promise<ContenderResult> {
  const arrivals = new Arrivals(dst, contender.observed);
  await arrivals.start();
  let child = contender.start();
  try {
    await contender.ready(arrivals);
    await pacedWrites(write, '/bench/', log, 200, 1);
    const rates = new Map<number, { written: number; mirrored: number; p99: number; max: number }>();
    for (const rate of v3Rates) {
      progress(`${contender.name}: ${rate}/s for ${seconds} s`);
      const run = await pacedWrites(write, '/bench/', log, rate, seconds);
      await arrivals.caughtUp(log, run.first, run.last, 60_000);
      const lags = arrivals.lags(log, run.first, run.last);
      rates.set(rate, { written: (run.last - run.first + 1) / run.seconds, mirrored: lags.count / run.seconds, p99: lags.p99, max: lags.max });
    }
    progress(`${contender.name}: ${burstSize}-write burst`);
    const burstStarted = performance.now();
    const written = await burst(write, '/bench/', log, burstSize);
    const lastArrival = await arrivals.caughtUp(log, written.first, written.last);
    progress(`${contender.name}: kill -9 mid-burst`);
    const killFrom = log.next;
    const killBurst = burst(write, '/bench/', log, burstSize);
    await waitUntil(async () => log.acknowledged.has(killFrom + Math.floor(burstSize / 3)), 60_000);
    await killHard(child);
    await killBurst;
    const [totalBefore, repeatsBefore] = [arrivals.total, arrivals.repeats];
    const restarted = performance.now();
    child = contender.start();
    const caught = await waitUntil(() => sameState(src, '/bench/', dst, contender.observed), 120_000);
    return {
      rates,
      burstWrittenMs: written.endedAt - burstStarted,
      burstCatchUpMs: lastArrival === undefined ? undefined : lastArrival - written.endedAt,
      afterKill: { writes: arrivals.total - totalBefore, caughtUpMs: caught ? performance.now() - restarted : undefined, repeats: arrivals.repeats - repeatsBefore },
    };
  } finally {
    arrivals.stop();
    child.kill('SIGTERM');
    await new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(undefined) : child.once('exit', resolve)));
  }
}

/** `etcd-warden mirror --api v3` (or `--src-api v2 --dst-api v3`) as its unit runs it. */
function mirrorProcess(api: 'v3' | 'v2-to-v3', source: EtcdProcess, replica: EtcdProcess, args: readonly string[]): ChildProcess {
  const cli = fileURLToPath(new URL('../../bin/etcd-warden.js', import.meta.url));
  const mode = api === 'v3' ? ['--api', 'v3'] : ['--src-api', 'v2', '--dst-api', 'v3'];
  const child = spawn(process.execPath, [...mirrorNodeFlags, cli, 'mirror', ...mode, '--port', '0', '--status-host', '127.0.0.1', '--log-level', 'warn', ...args], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, ETCD_WARDEN_MIRROR_SRC: source.clientUrl, ETCD_WARDEN_MIRROR_DST: replica.clientUrl },
  });
  trackChild(child);
  return child;
}

function makeMirrorProcess(source: EtcdProcess, replica: EtcdProcess): ChildProcess {
  const child = spawn('etcdctl', ['--endpoints', source.clientUrl, 'make-mirror', '--prefix', '/bench/', '--dest-prefix', '/mm/bench/', replica.clientUrl], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, ETCDCTL_API: '3' },
  });
  trackChild(child);
  return child;
}

function rateTable(ours: ContenderResult, theirs: ContenderResult): string {
  const rows = v3Rates.map((rate) => {
    const a = ours.rates.get(rate);
    const b = theirs.rates.get(rate);
    return [
      formatRate(rate),
      formatRate(a?.written ?? 0),
      formatRate(a?.mirrored ?? 0),
      formatMs(a?.p99 ?? 0),
      formatMs(a?.max ?? 0),
      formatRate(b?.written ?? 0),
      formatRate(b?.mirrored ?? 0),
      formatMs(b?.p99 ?? 0),
      formatMs(b?.max ?? 0),
    ];
  });
  return renderTable({
    groups: [['', 1], ['etcd-warden v3 mirror', 4], ['etcdctl make-mirror', 4]],
    header: ['asked/s', 'written/s', 'mirrored/s', 'lag p99', 'lag max', 'written/s', 'mirrored/s', 'lag p99', 'lag max'],
    rows,
  });
}

function sustained(result: ContenderResult): string {
  let best = 0;
  for (const row of result.rates.values()) if (row.max < 1000 && row.mirrored > best) best = row.mirrored;
  return `${formatRate(best)}/s`;
}

export async function benchMirrorV3(): Promise<string> {
  const [source, replica] = await Promise.all([startEtcd('bench-v3-src'), startEtcd('bench-v3-dst')]);
  const src = new EtcdV3Client(source.clientUrl);
  const dst = new EtcdV3Client(replica.clientUrl);
  const pool = new Pool(source.clientUrl, { connections: 64, pipelining: 1 });
  try {
    const write = v3Writer(src);
    for (let i = 0; i < seedKeys; i += 100) await Promise.all(Array.from({ length: 100 }, (_, j) => write(`/bench/k${i + j}`, 'seed')));
    const log = new WriteLog();
    const record = keyFromText('__etcd_warden/replication/ours');
    const ours = await measure(
      {
        name: 'etcd-warden',
        observed: '/ours/bench/',
        start: () => mirrorProcess('v3', source, replica, ['--src-prefix', '/bench', '--dst-prefix', '/ours', ...(log.next === 0 ? ['--reload'] : [])]),
        ready: async () => {
          if (!(await waitUntil(async () => (await dst.range({ key: record })).kvs.length > 0, 60_000))) throw new Error('the v3 mirror did not record a revision');
        },
      },
      write,
      src,
      dst,
      log,
    );
    const theirs = await measure(
      {
        name: 'make-mirror',
        observed: '/mm/bench/',
        start: () => makeMirrorProcess(source, replica),
        ready: async () => {
          await waitUntil(() => sameState(src, '/bench/', dst, '/mm/bench/'), 120_000);
        },
      },
      write,
      src,
      dst,
      log,
    );
    progress('v2 → v3 migration');
    const v2Write = v2Writer(pool);
    const v2Log = new WriteLog();
    const migration = mirrorProcess('v2-to-v3', source, replica, ['--src-prefix', '/v2bench', '--dst-prefix', '/v2r', '--reload']);
    const arrivals = new Arrivals(dst, '/v2r/v2bench/');
    const v2Rows: string[][] = [];
    try {
      await arrivals.start();
      await waitUntil(async () => (await dst.range({ key: keyFromText('__etcd_warden/replication-v2/v2r') })).kvs.length > 0, 60_000);
      // Warm-up: the v2 watch long-polls one event at a time until it has caught up once, then streams.
      await pacedWrites(v2Write, '/v2bench/', v2Log, 200, 1);
      for (const rate of v2Rates) {
        progress(`v2 → v3: ${rate}/s for ${seconds} s`);
        const run = await pacedWrites(v2Write, '/v2bench/', v2Log, rate, seconds);
        await arrivals.caughtUp(v2Log, run.first, run.last, 60_000);
        const lags = arrivals.lags(v2Log, run.first, run.last);
        v2Rows.push([formatRate(rate), formatRate((run.last - run.first + 1) / run.seconds), formatRate(lags.count / run.seconds), formatMs(lags.p99), formatMs(lags.max)]);
      }
    } finally {
      arrivals.stop();
      const exited = new Promise((resolve) => migration.once('exit', resolve));
      migration.kill('SIGTERM');
      await exited;
    }
    const killLine = (name: string, result: ContenderResult, what: string): string => {
      const { writes, repeats, caughtUpMs } = result.afterKill;
      const caught = caughtUpMs === undefined ? 'NOT within 120 s' : `${formatMs(caughtUpMs)} after the restart (${formatRate(writes / (caughtUpMs / 1000))} writes/s)`;
      return `  ${name}: ${writes.toLocaleString('en-US')} destination writes after the restart (${what}), ${repeats.toLocaleString('en-US')} of them values it had already written; equal to the source ${caught}`;
    };
    return [
      `v3 mirror against etcdctl make-mirror: two etcd 3.4 on loopback, ${seconds} s per rate, ${seedKeys.toLocaleString('en-US')} keys under the prefix, lag = destination arrival - source answer`,
      rateTable(ours, theirs),
      '',
      `sustained with every event's lag < 1 s: etcd-warden ${sustained(ours)}, make-mirror ${sustained(theirs)}`,
      `${burstSize.toLocaleString('en-US')}-write burst (64 writers): etcd-warden caught up ${ours.burstCatchUpMs === undefined ? 'NOT within 120 s' : formatMs(ours.burstCatchUpMs)} after the last write ` +
        `(written in ${formatMs(ours.burstWrittenMs)}), make-mirror ${theirs.burstCatchUpMs === undefined ? 'NOT within 120 s' : formatMs(theirs.burstCatchUpMs)} (written in ${formatMs(theirs.burstWrittenMs)})`,
      `kill -9 a third into a ${burstSize.toLocaleString('en-US')}-write burst, then restart:`,
      killLine('etcd-warden', ours, 'resumed from its recorded revision'),
      killLine('make-mirror', theirs, 'it keeps no place: a full copy, then the watch'),
      '',
      'v2 → v3 migration (v2 writes on the source, v3 keys on the destination)',
      renderTable({ header: ['asked/s', 'written/s', 'mirrored/s', 'lag p99', 'lag max'], rows: v2Rows }),
    ].join('\n');
  } finally {
    src.close();
    dst.close();
    await pool.close();
    await Promise.all([source.stop(), replica.stop()]);
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  benchMirrorV3().then(
    (table) => process.stdout.write(table + '\n'),
    async (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      await cleanUpAll();
      process.exitCode = 1;
    },
  );
}
