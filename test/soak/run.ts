// `npm run soak`: a few minutes of mixed traffic against the real binary and
// a real etcd, with SIGHUP reloads every few seconds and etcd restarted twice.
// Prints, and checks:
// - the proxy's RSS and open descriptors, quiet before vs quiet after: within 10%;
// - no 5xx (and no failed connection) outside the windows where etcd was down;
// - every write acknowledged with 2xx is in etcd with its value.
// Not part of `npm test` (it takes ~3 minutes). SOAK_SECONDS changes the length.
import { Agent, request as httpRequest } from 'node:http';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEtcd, type EtcdProcess } from '../fixtures/etcd.js';
import { etcdKeys, form, rawRequest } from '../fixtures/http.js';
import { basicAuth, htpasswdLine, startProxy, type ProxyProcess } from '../fixtures/proxy.js';

const loadSeconds = Number(process.env.SOAK_SECONDS ?? 130);
const warmupSeconds = 15;
const quietMs = 6_000; // longer than undici's 4 s upstream keep-alive, so idle sockets are gone
const writer = basicAuth('writer', 'writer-secret');
const config = { acls: { '/': ['root'], '/soak': ['writer'] } };

const sleep = (ms: number): Promise<void> => new Promise((wake) => setTimeout(wake, ms));

interface Sample {
  readonly rssMiB: number;
  readonly fds: number;
  /** V8 heap in use, from the proxy's own metrics: tells a leak from a heap V8 has not handed back. */
  readonly heapUsedMiB: number;
}

// Writing a heap snapshot runs a full GC first: the only way to ask the
// proxy (a child, no --expose-gc) to collect, so "before" and "after" compare
// live memory rather than garbage V8 had not yet got round to.
const snapshotDir = mkdtempSync(join(tmpdir(), 'etcd-warden-soak-'));
process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${snapshotDir}`.trim();

async function collectGarbage(pid: number): Promise<void> {
  const count = readdirSync(snapshotDir).length;
  process.kill(pid, 'SIGUSR2');
  while (readdirSync(snapshotDir).length === count) await sleep(200);
  await sleep(2_000); // the file appears when writing starts
  for (const file of readdirSync(snapshotDir)) rmSync(join(snapshotDir, file), { force: true });
}

async function sample(pid: number, metricsUrl: string): Promise<Sample> {
  await collectGarbage(pid);
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
  const metrics = (await rawRequest(metricsUrl, '/metrics')).body;
  const heapUsed = Number(/^etcd_warden_nodejs_heap_size_used_bytes (\S+)/m.exec(metrics)?.[1] ?? 0) / 2 ** 20;
  return { rssMiB: rss, fds: readdirSync(`/proc/${pid}/fd`).length, heapUsedMiB: heapUsed };
}

interface Outcome {
  readonly status: number;
  readonly startedAt: number;
  readonly endedAt: number;
}

class Traffic {
  readonly outcomes: Outcome[] = [];
  readonly acknowledged = new Map<string, string>();
  watchesOpened = 0;
  /** Watches the client hung up on before any event (the rest ended with an event). */
  watchesDropped = 0;
  running = true;
  readonly agent = new Agent({ keepAlive: true, maxSockets: 16 });

  constructor(private readonly proxyUrl: string) {}

  send(path: string, method: string, headers: Record<string, string>, body?: string, abortAfterMs?: number): Promise<number> {
    const url = new URL(this.proxyUrl);
    const startedAt = Date.now();
    let answered = false;
    return new Promise((resolve) => {
      const finish = (status: number): void => {
        answered = true;
        this.outcomes.push({ status, startedAt, endedAt: Date.now() });
        resolve(status);
      };
      const req = httpRequest(
        {
          host: url.hostname, port: url.port, path, method,
          agent: abortAfterMs === undefined ? this.agent : false,
          headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(Buffer.byteLength(body)) }) },
        },
        (response) => {
          response.resume();
          response.on('end', () => finish(response.statusCode ?? 0));
          response.on('error', () => finish(response.statusCode ?? 0));
        },
      );
      req.setTimeout(30_000, () => req.destroy(new Error('timeout')));
      req.on('error', () => {
        // A watch we dropped on purpose is not a failure.
        if (abortAfterMs !== undefined && req.destroyed && this.droppedOnPurpose.has(req)) resolve(-1);
        else finish(0);
      });
      if (abortAfterMs !== undefined) {
        setTimeout(() => {
          // Already answered (an event arrived): nothing to drop.
          if (answered) return;
          this.droppedOnPurpose.add(req);
          this.watchesDropped += 1;
          req.destroy();
        }, abortAfterMs).unref();
      }
      req.end(body);
    });
  }

  private readonly droppedOnPurpose = new WeakSet<object>();

  async reader(id: number): Promise<void> {
    for (let i = 0; this.running; i++) await this.send(`/v2/keys/soak/w-${id % 2}-${i % 50}`, 'GET', {});
  }

  async writer(id: number): Promise<void> {
    for (let i = 0; this.running; i++) {
      const key = `/soak/w-${id}-${i}`;
      const value = `v-${id}-${i}`;
      const status = await this.send(`/v2/keys${key}`, 'PUT', { authorization: writer }, form({ value }));
      if (status >= 200 && status < 300) this.acknowledged.set(key, value);
    }
  }

  /** Even ids watch the busy /soak tree (events end them), odd ids a quiet key (the client drops them). */
  async watcher(id: number): Promise<void> {
    const path = id % 2 === 0 ? '/v2/keys/soak?wait=true&recursive=true' : `/v2/keys/quiet/${id}?wait=true`;
    while (this.running) {
      this.watchesOpened += 1;
      await this.send(path, 'GET', {}, undefined, 200 + Math.floor(Math.random() * 2800));
    }
  }
}

async function main(): Promise<number> {
  let etcd: EtcdProcess | undefined;
  let proxy: ProxyProcess | undefined;
  try {
    etcd = await startEtcd('soak');
    proxy = await startProxy({
      upstream: etcd.clientUrl,
      htpasswd: [htpasswdLine('root', 'root-secret', 'bcrypt'), htpasswdLine('writer', 'writer-secret', 'apr1')],
      config,
    });
    const pid = proxy.child.pid ?? 0;
    const traffic = new Traffic(proxy.url);
    const downtime: { from: number; to: number }[] = [];
    let reloads = 0;

    const workers = [
      ...Array.from({ length: 4 }, (_, i) => traffic.reader(i)),
      ...Array.from({ length: 2 }, (_, i) => traffic.writer(i)),
      ...Array.from({ length: 6 }, (_, i) => traffic.watcher(i)),
    ];
    const runningProxy = proxy;
    const hup = setInterval(() => {
      void runningProxy.writeConfig(config).then(() => {
        runningProxy.signal('SIGHUP');
        reloads += 1;
      });
    }, 3_000);

    // Warm up, then stop the load for a quiet baseline.
    console.log(`soak: warming up for ${warmupSeconds} s`);
    await sleep(warmupSeconds * 1000);
    traffic.running = false;
    await Promise.all(workers);
    traffic.agent.destroy();
    await sleep(quietMs);
    const before = await sample(pid, proxy.metricsUrl);
    console.log(`soak: quiet baseline RSS ${before.rssMiB.toFixed(1)} MiB, ${before.fds} fds; loading for ${loadSeconds} s`);

    const load = new Traffic(proxy.url);
    const loadWorkers = [
      ...Array.from({ length: 4 }, (_, i) => load.reader(i)),
      ...Array.from({ length: 2 }, (_, i) => load.writer(i)),
      ...Array.from({ length: 6 }, (_, i) => load.watcher(i)),
    ];
    const runningEtcd = etcd;
    for (const at of [1 / 3, 2 / 3]) {
      await sleep((loadSeconds * 1000) / 3);
      const from = Date.now();
      await runningEtcd.pause();
      await sleep(3_000);
      await runningEtcd.resume();
      downtime.push({ from, to: Date.now() + 2_000 });
      console.log(`soak: etcd restarted at ${Math.round(at * 100)}% (down ${((Date.now() - from) / 1000).toFixed(1)} s)`);
    }
    await sleep((loadSeconds * 1000) / 3);
    load.running = false;
    await Promise.all(loadWorkers);
    clearInterval(hup);
    load.agent.destroy();
    await sleep(quietMs);
    const after = await sample(pid, proxy.metricsUrl);

    const duringDowntime = (o: Outcome): boolean => downtime.some((d) => o.startedAt <= d.to && o.endedAt >= d.from);
    const bad = load.outcomes.filter((o) => (o.status >= 500 || o.status === 0) && !duringDowntime(o));
    const badDuringDowntime = load.outcomes.filter((o) => (o.status >= 500 || o.status === 0) && duringDowntime(o)).length;
    const stored = await etcdKeys(etcd.clientUrl);
    const missing = [...load.acknowledged, ...traffic.acknowledged].filter(([key, value]) => stored.get(key) !== value);
    const rssDrift = (after.rssMiB - before.rssMiB) / before.rssMiB;
    const fdDrift = (after.fds - before.fds) / before.fds;
    const byStatus = new Map<number, number>();
    for (const o of load.outcomes) byStatus.set(o.status, (byStatus.get(o.status) ?? 0) + 1);

    console.log('');
    console.log(`requests             ${load.outcomes.length} (${[...byStatus].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}: ${n}`).join(', ')})`);
    console.log(`watches              ${load.watchesOpened} opened, ${load.watchesDropped} dropped by the client`);
    console.log(`SIGHUP reloads       ${reloads}; etcd restarts: 2`);
    console.log(`RSS                  ${before.rssMiB.toFixed(1)} -> ${after.rssMiB.toFixed(1)} MiB (${(rssDrift * 100).toFixed(1)}%)`);
    console.log(`V8 heap used         ${before.heapUsedMiB.toFixed(1)} -> ${after.heapUsedMiB.toFixed(1)} MiB`);
    console.log(`open fds             ${before.fds} -> ${after.fds} (${(fdDrift * 100).toFixed(1)}%)`);
    console.log(`5xx / no answer      ${bad.length} outside etcd downtime, ${badDuringDowntime} while etcd was down`);
    console.log(`acknowledged writes  ${load.acknowledged.size + traffic.acknowledged.size}, missing from etcd: ${missing.length}`);

    const failures = [
      ...(Math.abs(rssDrift) > 0.1 ? [`RSS drifted ${(rssDrift * 100).toFixed(1)}%`] : []),
      ...(Math.abs(fdDrift) > 0.1 ? [`fds drifted ${(fdDrift * 100).toFixed(1)}%`] : []),
      ...(bad.length > 0 ? [`${bad.length} 5xx or failed requests outside etcd downtime`] : []),
      ...(missing.length > 0 ? [`${missing.length} acknowledged writes missing, e.g. ${missing.slice(0, 3).map(([k]) => k).join(', ')}`] : []),
    ];
    console.log(failures.length === 0 ? '\nsoak: PASS' : `\nsoak: FAIL\n  ${failures.join('\n  ')}`);
    return failures.length === 0 ? 0 : 1;
  } finally {
    await proxy?.stop();
    await etcd?.stop();
    rmSync(snapshotDir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(2);
  },
);
