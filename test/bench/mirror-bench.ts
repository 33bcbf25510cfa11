// v2 mirror benchmark: two real etcds, the mirror CLI as a child process run
// as its unit runs it (mirrorNodeFlags), so the load generator does not share
// its event loop. Rows: paced writes inside the prefix, a 1,000-event burst,
// writes OUTSIDE the prefix at several rates for 30 s then one write inside
// (the 2024-02-28 shape: resyncs, time to replicate), and a 3,000-event
// burst with kill -9 restarts; each with the mirror's peak RSS. Then the
// paced rows again with the mirror started without its memory flags.
// Run: npx tsc -p tsconfig.json && node dist/test/bench/mirror-bench.js
// BENCH_SECONDS (default 10) per paced rate, BENCH_OUTSIDE_SECONDS (default 30) per outside rate.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Pool } from 'undici';
import { mirrorNodeFlags } from '../../mirror/options.js';
import { freePort, startEtcd, type EtcdProcess } from '../fixtures/etcd.js';
import { trackChild } from './lib/cleanup.js';
import { PeakRss } from './lib/rss.js';
import { formatMs, formatRate, renderTable } from './lib/table.js';

const insideRates = [50, 200, 1000, 2000, 5000];
/** Outside the prefix; 0 = as fast as 64 writers go (the source's limit). */
const outsideRates = [1000, 2000, 5000, 0];
const insideSeconds = Number(process.env.BENCH_SECONDS ?? 10);
const outsideSeconds = Number(process.env.BENCH_OUTSIDE_SECONDS ?? 30);

function progress(line: string): void {
  process.stderr.write(`mirror-bench: ${line}\n`);
}

async function metric(statusUrl: string, name: string): Promise<number> {
  const text = await (await fetch(`${statusUrl}/metrics`)).text();
  const line = text.split('\n').find((candidate) => candidate.startsWith(name + ' ') || candidate.startsWith(name + '{'));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

async function put(pool: Pool, key: string, value: string): Promise<number> {
  const response = await pool.request({ method: 'PUT', path: `/v2/keys${key}`, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `value=${value}` });
  const body = (await response.body.json()) as { node?: { modifiedIndex?: number } };
  return body.node?.modifiedIndex ?? 0;
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return true;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return false;
}

/** Writes `key(n)` at `rate`/s (0: as fast as 64 writers go) for `seconds`, at most 128 in flight; what was done and the last index. */
async function writeFor(pool: Pool, key: (n: number) => string, rate: number, seconds: number): Promise<{ done: number; seconds: number; lastIndex: number }> {
  const started = Date.now();
  let [issued, done, inFlight, lastIndex, n] = [0, 0, 0, 0, 0];
  const one = (): void => {
    inFlight += 1;
    const i = n++;
    void put(pool, key(i), String(i)).then(
      (index) => {
        lastIndex = Math.max(lastIndex, index);
        done += 1;
        inFlight -= 1;
      },
      () => (inFlight -= 1),
    );
  };
  while (Date.now() - started < seconds * 1000) {
    if (rate === 0) {
      while (inFlight < 64) one();
    } else {
      const due = Math.floor(((Date.now() - started) / 1000) * rate);
      while (issued < due && inFlight < 128) {
        issued += 1;
        one();
      }
      if (issued < due) issued = due; // the source could not take more: skipped, not queued
    }
    await new Promise((resolve) => setTimeout(resolve, rate === 0 ? 1 : 10));
  }
  await waitUntil(async () => inFlight === 0, 10_000);
  return { done, seconds: (Date.now() - started) / 1000, lastIndex };
}

class Mirror {
  child: ChildProcess;
  readonly statusUrl: string;
  readonly rss: PeakRss;

  constructor(
    private readonly source: EtcdProcess,
    private readonly replica: EtcdProcess,
    private readonly statusPort: number,
    /** mirrorNodeFlags, as the unit runs it (for memory), or none (for speed). */
    private readonly nodeFlags: readonly string[] = mirrorNodeFlags,
  ) {
    this.statusUrl = `http://127.0.0.1:${statusPort}`;
    this.child = this.spawn(['--reload']);
    this.rss = new PeakRss(() => this.child.pid);
  }

  /** As the unit runs it: its Node flags, the URLs in the environment. */
  private spawn(extra: readonly string[]): ChildProcess {
    const cli = fileURLToPath(new URL('../../bin/etcd-warden.js', import.meta.url));
    const child = spawn(
      process.execPath,
      [...this.nodeFlags, cli, 'mirror', ...extra, '--src-prefix', '/bench', '--dst-prefix', '/replica', '--port', String(this.statusPort), '--status-host', '127.0.0.1', '--log-level', 'warn'],
      { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ETCD_WARDEN_MIRROR_SRC: this.source.clientUrl, ETCD_WARDEN_MIRROR_DST: this.replica.clientUrl } },
    );
    trackChild(child);
    return child;
  }

  async ready(): Promise<void> {
    await waitUntil(async () => (await fetch(`${this.statusUrl}/lag`)).status === 200, 20_000);
  }

  async killHardAndRestart(): Promise<void> {
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGKILL');
    await exited;
    this.child = this.spawn([]);
    await this.ready();
  }

  async replicatedUpTo(index: number, timeoutMs = 60_000): Promise<boolean> {
    return waitUntil(async () => (await metric(this.statusUrl, 'etcd_warden_mirror_last_replicated_index')) >= index, timeoutMs);
  }

  resyncs(): Promise<number> {
    return metric(this.statusUrl, 'etcd_warden_mirror_resyncs_total{reason="index_cleared"}');
  }

  async stop(): Promise<void> {
    this.rss.stop();
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    await exited;
  }
}

async function insideRows(mirror: Mirror, pool: Pool): Promise<string[][]> {
  const rows: string[][] = [];
  for (const rate of insideRates) {
    progress(`${rate}/s inside the prefix for ${insideSeconds} s`);
    const [resyncsBefore, replicatedBefore] = [await mirror.resyncs(), await metric(mirror.statusUrl, 'etcdmirror_replicated_events_total')];
    mirror.rss.reset();
    const run = await writeFor(pool, (n) => `/bench/k${n % 5000}`, rate, insideSeconds);
    const replicated = (await metric(mirror.statusUrl, 'etcdmirror_replicated_events_total')) - replicatedBefore;
    const lagEvents = Number(await (await fetch(`${mirror.statusUrl}/lag`)).text());
    const endAt = Date.now();
    await mirror.replicatedUpTo(run.lastIndex);
    rows.push([formatRate(rate), formatRate(run.done / run.seconds), formatRate(replicated / run.seconds), String(lagEvents), formatMs(Date.now() - endAt), String((await mirror.resyncs()) - resyncsBefore), mirror.rss.peakMiB().toFixed(1)]);
  }
  return rows;
}

async function outsideRows(mirror: Mirror, pool: Pool): Promise<string[][]> {
  const rows: string[][] = [];
  for (const rate of outsideRates) {
    progress(`${rate === 0 ? 'as fast as possible' : `${rate}/s`} outside the prefix for ${outsideSeconds} s, then one write inside`);
    const resyncsBefore = await mirror.resyncs();
    mirror.rss.reset();
    const run = await writeFor(pool, (n) => `/elsewhere/k${n % 5000}`, rate, outsideSeconds);
    const insideAt = Date.now();
    const index = await put(pool, '/bench/after-outside', String(rate));
    const caught = await mirror.replicatedUpTo(index);
    rows.push([rate === 0 ? 'max' : formatRate(rate), formatRate(run.done / run.seconds), String((await mirror.resyncs()) - resyncsBefore), caught ? formatMs(Date.now() - insideAt) : 'NOT in 60 s', mirror.rss.peakMiB().toFixed(1)]);
  }
  return rows;
}

/** The issue-9 memory work: a 3,000-event burst inside the prefix, the mirror killed with -9 a third in and restarted, three times. */
async function killedBurstRow(mirror: Mirror, pool: Pool): Promise<string> {
  // Fresh processes only: the long-lived one keeps the RSS the rows before it grew.
  await mirror.killHardAndRestart();
  mirror.rss.reset();
  const resyncsBefore = await mirror.resyncs();
  let last = 0;
  for (let round = 0; round < 3; round++) {
    progress(`3,000-event burst with kill -9, round ${round + 1}`);
    let n = 0;
    const burst = Promise.all(Array.from({ length: 64 }, async () => {
      for (let i = n++; i < 3000; i = n++) last = Math.max(last, await put(pool, `/bench/pools/k${i % 500}`, JSON.stringify({ pooled: 'yes', weight: i, round })));
    }));
    await waitUntil(async () => n >= 1000, 30_000);
    await mirror.killHardAndRestart();
    await burst;
    await mirror.replicatedUpTo(last);
  }
  return `3,000-event burst, kill -9 a third in and restart, 3 times: peak RSS ${mirror.rss.peakMiB().toFixed(1)} MiB across the mirror processes (etcdmirror, measured on the same work for issue 9: 61-68 MiB), ${(await mirror.resyncs()) - resyncsBefore} resyncs`;
}

export async function benchMirror(): Promise<string> {
  const [source, replica] = await Promise.all([startEtcd('bench-src'), startEtcd('bench-dst')]);
  let mirror = new Mirror(source, replica, await freePort());
  const pool = new Pool(source.clientUrl, { connections: 64, pipelining: 1 });
  try {
    await waitUntil(async () => (await fetch(`${replica.clientUrl}/v2/keys/__replication/replica`)).status === 200, 20_000);
    const inside = await insideRows(mirror, pool);
    progress('1,000-event burst');
    mirror.rss.reset();
    const burstStart = Date.now();
    let burstLast = 0;
    let next = 0;
    await Promise.all(Array.from({ length: 64 }, async () => {
      for (let i = next++; i < 1000; i = next++) burstLast = Math.max(burstLast, await put(pool, `/bench/burst${i}`, String(i)));
    }));
    const written = Date.now() - burstStart;
    await mirror.replicatedUpTo(burstLast);
    const burstLine = `1,000-event burst: written in ${written} ms, fully replicated ${Date.now() - burstStart} ms after the first write; peak RSS ${mirror.rss.peakMiB().toFixed(1)} MiB`;
    const outside = await outsideRows(mirror, pool);
    const killed = await killedBurstRow(mirror, pool);
    await mirror.stop();
    progress('the same mirror without its memory flags (for speed), fresh process');
    mirror = new Mirror(source, replica, await freePort(), []);
    await mirror.ready();
    const insideFast = await insideRows(mirror, pool);
    return [
      `v2 mirror: two etcd 3.4 on loopback, the CLI run as its unit runs it (node ${mirrorNodeFlags.join(' ')}), --idle-renew-ms 10000;`,
      'peak RSS per row is the one process\'s, which keeps most of what earlier rows grew (the kill -9 row starts fresh processes)',
      renderTable({ header: ['inside/s', 'written/s', 'mirrored/s', 'lag (evts)', 'caught up', 'resyncs', 'peak RSS MiB'], rows: inside }),
      '',
      burstLine,
      '',
      `writes outside the prefix for ${outsideSeconds} s, then one write inside (the prefix otherwise quiet):`,
      renderTable({ header: ['outside/s', 'written/s', 'resyncs', 'time to replicate', 'peak RSS MiB'], rows: outside }),
      '',
      killed,
      '',
      `the same rows with the mirror run without ${mirrorNodeFlags.join(' ')} (and so without --optimize-for-size): for speed, not memory`,
      renderTable({ header: ['inside/s', 'written/s', 'mirrored/s', 'lag (evts)', 'caught up', 'resyncs', 'peak RSS MiB'], rows: insideFast }),
    ].join('\n');
  } finally {
    await mirror.stop();
    await pool.close();
    await Promise.all([source.stop(), replica.stop()]);
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  benchMirror().then(
    (table) => process.stdout.write(table + '\n'),
    (error: unknown) => {
      process.stderr.write(`${String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
