// Mirror throughput benchmark: two real etcds, the mirror CLI as a child
// process (so the load generator does not share its event loop), paced
// writes at several rates, then a 1,000-event burst.
// Run: npx tsc -p tsconfig.json && node dist/test/bench/mirror-bench.js
import { spawn } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Pool } from 'undici';
import { startEtcd } from '../fixtures/etcd.js';

const rates = [50, 200, 1000, 2000, 5000];
const secondsPerRate = 10;

async function metric(statusUrl: string, name: string): Promise<number> {
  const text = await (await fetch(`${statusUrl}/metrics`)).text();
  const line = text.split('\n').find((candidate) => candidate.startsWith(name + ' ') || candidate.startsWith(name + '{'));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

async function put(pool: Pool, key: string, value: string): Promise<number> {
  const response = await pool.request({
    method: 'PUT',
    path: `/v2/keys${key}`,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: `value=${value}`,
  });
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

export async function benchMirror(): Promise<string> {
  const [source, replica] = await Promise.all([startEtcd('bench-src'), startEtcd('bench-dst')]);
  const cli = fileURLToPath(new URL('../../bin/etcd-warden.js', import.meta.url));
  const statusPort = 18_000 + Math.floor(Math.random() * 1000);
  const statusUrl = `http://127.0.0.1:${statusPort}`;
  const child = spawn(
    process.execPath,
    [cli, 'mirror', '--reload', '--src-prefix', '/bench', '--dst-prefix', '/replica', '--port', String(statusPort), '--status-host', '127.0.0.1', '--log-level', 'warn'],
    { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ETCD_WARDEN_MIRROR_SRC: source.clientUrl, ETCD_WARDEN_MIRROR_DST: replica.clientUrl } },
  );
  const pool = new Pool(source.clientUrl, { connections: 32, pipelining: 1 });
  const rows: string[] = [];
  try {
    await waitUntil(async () => (await fetch(`${replica.clientUrl}/v2/keys/__replication/replica`)).status === 200, 20_000);
    let sequence = 0;
    for (const rate of rates) {
      const resyncsBefore = await metric(statusUrl, 'etcd_warden_mirror_resyncs_total{reason="index_cleared"}');
      const replicatedBefore = await metric(statusUrl, 'etcdmirror_replicated_events_total');
      const started = Date.now();
      let issued = 0;
      let done = 0;
      let inFlight = 0;
      let lastIndex = 0;
      // Paced: every 10 ms issue what the schedule says is due, at most 128 in flight.
      while (Date.now() - started < secondsPerRate * 1000) {
        const due = Math.floor(((Date.now() - started) / 1000) * rate);
        while (issued < due && inFlight < 128) {
          issued += 1;
          inFlight += 1;
          const n = sequence++;
          void put(pool, `/bench/k${n % 5000}`, String(n)).then(
            (index) => {
              lastIndex = Math.max(lastIndex, index);
              done += 1;
              inFlight -= 1;
            },
            () => {
              inFlight -= 1;
            },
          );
        }
        if (issued < due) issued = due; // the source could not take more: count as skipped
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await waitUntil(async () => inFlight === 0, 10_000);
      const drivenSeconds = (Date.now() - started) / 1000;
      const replicatedAtEnd = (await metric(statusUrl, 'etcdmirror_replicated_events_total')) - replicatedBefore;
      const lagEvents = Number(await (await fetch(`${statusUrl}/lag`)).text());
      const endAt = Date.now();
      await waitUntil(async () => (await metric(statusUrl, 'etcd_warden_mirror_last_replicated_index')) >= lastIndex, 60_000);
      const lagMs = Date.now() - endAt;
      const resyncs = (await metric(statusUrl, 'etcd_warden_mirror_resyncs_total{reason="index_cleared"}')) - resyncsBefore;
      rows.push(
        [
          String(rate).padStart(6),
          (done / drivenSeconds).toFixed(0).padStart(9),
          (replicatedAtEnd / drivenSeconds).toFixed(0).padStart(10),
          String(lagEvents).padStart(10),
          String(lagMs).padStart(8),
          (resyncs > 0 ? 'yes' : 'no').padStart(8),
        ].join(' | '),
      );
    }
    // Burst: 1,000 writes as fast as 64 connections take them.
    const burstStart = Date.now();
    let burstLast = 0;
    const queue = Array.from({ length: 1000 }, (_, i) => i);
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        for (let i = queue.shift(); i !== undefined; i = queue.shift()) {
          burstLast = Math.max(burstLast, await put(pool, `/bench/burst${i}`, String(i)));
        }
      }),
    );
    const written = Date.now() - burstStart;
    await waitUntil(async () => (await metric(statusUrl, 'etcd_warden_mirror_last_replicated_index')) >= burstLast, 60_000);
    const replicated = Date.now() - burstStart;
    return [
      'rate/s | written/s | mirrored/s | lag (evts) | lag (ms) | resync',
      ...rows,
      '',
      `1,000-event burst: written in ${written} ms, fully replicated ${replicated} ms after the first write`,
    ].join('\n');
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
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
