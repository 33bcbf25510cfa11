// The v3 benchmark of issue 11: etcd direct and etcd-warden's one TLS port
// side by side under the same gRPC load (grpc-js, many unary calls in
// flight), Range and Put, the proxy's authenticated Put against its own
// anonymous-prefix Put, and 2,000 v3 watches (the proxy's added RSS and the
// fan-out of one write). Targets (issue 11): Range ≥ 0.5× etcd direct;
// authenticated Put ≥ 0.8× anonymous-prefix Put. Everything on 127.0.0.1,
// every run bounded (BENCH_SECONDS), every process and file gone at the end.
import { readFile } from 'node:fs/promises';
import { Metadata } from '@grpc/grpc-js';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { startEtcd } from '../fixtures/etcd.js';
import { cleanUpAll, onCleanup } from './lib/cleanup.js';
import { makeHtpasswd, makeSelfSignedCertificate } from './lib/credentials.js';
import { openFileLimit, sleep } from './lib/processes.js';
import { treeRss } from './lib/proc-tree.js';
import { formatMiB, formatMs, formatRate, renderTable } from './lib/table.js';
import { authenticate, openV3Watches, runUnaryLoad, v3Client, type LoadResult, type LoadShape, type UnaryLoad, type V3Target } from './lib/v3-load.js';
import { startWarden } from './lib/warden.js';
import { makeWorkspace } from './lib/workspace.js';

export interface V3BenchOptions {
  readonly seconds: number;
  readonly watches: number;
  readonly progress: (message: string) => void;
}

const defaults: V3BenchOptions = {
  seconds: Number(process.env.BENCH_SECONDS ?? 10),
  watches: Number(process.env.BENCH_WATCHES ?? 2000),
  progress: (message) => process.stderr.write(`bench v3: ${message}\n`),
};

// Like the v2 bench's wrk -c32: 64 calls in flight over 4 connections.
const shape = (seconds: number): LoadShape => ({ connections: 4, concurrency: 64, seconds });
const watchesPerConnection = 100;

const value = Buffer.alloc(64, 'v');
const rangeLoad: UnaryLoad = { service: 'KV', method: 'Range', request: () => ({ key: Buffer.from('/open/range') }) };
const putLoad = (prefix: string, token?: string): UnaryLoad => ({
  service: 'KV', method: 'Put', request: (i) => ({ key: Buffer.from(`${prefix}/key-${i % 1000}`), value }), ...(token === undefined ? {} : { token }),
});

interface Measured {
  readonly range: { readonly direct: LoadResult; readonly proxy: LoadResult };
  readonly put: { readonly direct: LoadResult; readonly proxyOpen: LoadResult; readonly proxyAuthenticated: LoadResult };
  readonly watches: WatchFigures | { readonly skipped: string };
}

interface WatchFigures {
  readonly count: number;
  readonly addedRssBytes: number;
  readonly fanOutDirectMs: number | undefined;
  readonly fanOutProxyMs: number | undefined;
}

/** ABBA halves, so neither row gains from running while the machine warms up. */
async function abba(first: () => Promise<LoadResult>, second: () => Promise<LoadResult>): Promise<[LoadResult, LoadResult]> {
  const a1 = await first();
  const b1 = await second();
  const b2 = await second();
  const a2 = await first();
  return [combine(a1, a2), combine(b1, b2)];
}

function combine(a: LoadResult, b: LoadResult): LoadResult {
  return {
    calls: a.calls + b.calls,
    errors: a.errors + b.errors,
    callsPerSecond: (a.callsPerSecond + b.callsPerSecond) / 2,
    p50Ms: (a.p50Ms + b.p50Ms) / 2,
    // The worse half: a p99 is not an average.
    p99Ms: Math.max(a.p99Ms, b.p99Ms),
    firstError: a.firstError ?? b.firstError,
  };
}

async function measureWatches(direct: V3Target, proxy: V3Target, proxyPid: number, etcdUrl: string, count: number, progress: (message: string) => void): Promise<WatchFigures | { skipped: string }> {
  // Each watch stream shares its connection; the proxy holds 2 descriptors per client connection.
  const needed = Math.ceil(count / watchesPerConnection) * 4 + 200;
  const limit = await openFileLimit();
  if (limit < needed) return { skipped: `ulimit -n is ${limit}, ${count} watches need ≥ ${needed}` };
  const once = async (target: V3Target, key: string): Promise<number | undefined> => {
    const watches = await openV3Watches(target, key, count, watchesPerConnection);
    try {
      await sleep(1000);
      return await watches.fanOut(await writeOne(etcdUrl, key));
    } finally {
      watches.close();
    }
  };
  progress(`${count} watches straight on etcd, then one write`);
  const fanOutDirectMs = await once(direct, '/open/watched-direct');
  await sleep(1000);
  const rssBefore = (await treeRss(proxyPid)).totalBytes;
  progress(`${count} watches through etcd-warden (${watchesPerConnection} streams per connection), then one write`);
  const watches = await openV3Watches(proxy, '/open/watched', count, watchesPerConnection);
  try {
    await sleep(2000);
    const rssAfter = (await treeRss(proxyPid)).totalBytes;
    const fanOutProxyMs = await watches.fanOut(await writeOne(etcdUrl, '/open/watched'));
    return { count, addedRssBytes: rssAfter - rssBefore, fanOutDirectMs, fanOutProxyMs };
  } finally {
    watches.close();
  }
}

/** One Put straight to etcd; resolves with the moment it was sent. */
async function writeOne(etcdUrl: string, key: string): Promise<number> {
  const client = v3Client({ url: etcdUrl }, 'KV') as unknown as { Put: (request: unknown, metadata: Metadata, callback: (error: Error | null) => void) => void; close(): void };
  const sent = performance.now();
  try {
    await new Promise<void>((resolve, reject) => client.Put({ key: Buffer.from(key), value }, new Metadata(), (error) => (error === null ? resolve() : reject(error))));
  } finally {
    client.close();
  }
  return sent;
}

function render(measured: Measured, options: V3BenchOptions, heading: string): string {
  const cells = (result: LoadResult): string[] => [formatRate(result.callsPerSecond), formatMs(result.p99Ms)];
  const ratio = (a: LoadResult, b: LoadResult): string => `${(a.callsPerSecond / b.callsPerSecond).toFixed(2)}×`;
  const { range, put } = measured;
  const rows = [
    ['Range, anonymous', ...cells(range.direct), ...cells(range.proxy), `${ratio(range.proxy, range.direct)} of direct`, '≥ 0.5× direct', range.proxy.callsPerSecond >= 0.5 * range.direct.callsPerSecond ? 'met' : 'MISSED'],
    ['Put, anonymous prefix (/open)', ...cells(put.direct), ...cells(put.proxyOpen), `${ratio(put.proxyOpen, put.direct)} of direct`, '', ''],
    ['Put, bcrypt user\'s token (/bench)', '', '', ...cells(put.proxyAuthenticated), `${ratio(put.proxyAuthenticated, put.proxyOpen)} of anonymous`, '≥ 0.8× anonymous Put', put.proxyAuthenticated.callsPerSecond >= 0.8 * put.proxyOpen.callsPerSecond ? 'met' : 'MISSED'],
  ];
  const table = renderTable({
    groups: [['', 1], ['etcd direct', 2], ['etcd-warden', 2], ['', 3]],
    header: ['v3 call', 'calls/s', 'p99', 'calls/s', 'p99', 'ratio', 'target', ''],
    rows,
    left: [5, 6, 7],
  });
  const errors = [range.direct, range.proxy, put.direct, put.proxyOpen, put.proxyAuthenticated].filter((result) => result.errors > 0);
  const watches = measured.watches;
  const watchLine = 'skipped' in watches
    ? `v3 watches: skipped (${watches.skipped})`
    : `${watches.count.toLocaleString('en-US')} v3 watches (${watchesPerConnection} streams per connection): etcd-warden RSS +${formatMiB(watches.addedRssBytes)}; ` +
      `one write reaches all of them in ${watches.fanOutDirectMs === undefined ? 'not all (10 s)' : formatMs(watches.fanOutDirectMs)} straight on etcd, ` +
      `${watches.fanOutProxyMs === undefined ? 'not all (10 s)' : formatMs(watches.fanOutProxyMs)} through etcd-warden`;
  return [
    heading,
    '',
    table,
    ...(errors.length === 0 ? [] : ['', `calls that failed: ${errors.map((result) => `${result.errors} (${result.firstError ?? '?'})`).join('; ')}`]),
    '',
    watchLine,
    `(${options.seconds} s per row, Put rows in ABBA halves)`,
  ].join('\n');
}

export async function benchV3(overrides: Partial<V3BenchOptions> = {}): Promise<string> {
  const options: V3BenchOptions = { ...defaults, ...overrides };
  if (!(Number.isFinite(options.seconds) && options.seconds >= 1)) throw new Error(`BENCH_SECONDS must be a number ≥ 1, got ${options.seconds}`);
  try {
    const dir = await makeWorkspace();
    options.progress('making the certificate and the htpasswd file');
    const [tls, htpasswd] = await Promise.all([makeSelfSignedCertificate(dir), makeHtpasswd(dir)]);
    options.progress('starting etcd and etcd-warden');
    const etcd = await startEtcd('warden-v3-bench');
    onCleanup('etcd', () => etcd.stop());
    const warden = await startWarden(dir, { name: 'warden-v3', etcdOrigin: etcd.clientUrl, tls, htpasswd, workers: 1 });
    const direct: V3Target = { url: etcd.clientUrl };
    const proxy: V3Target = { url: warden.url, rootCertificate: await readFile(tls.cert) };
    const writer = htpasswd.writers.bcrypt;
    // One Authenticate (one bcrypt check), then the token on every call, as etcd's clients do.
    const token = await authenticate(proxy, writer.name, writer.password);
    await writeOne(etcd.clientUrl, '/open/range');
    const half = Math.max(1, Math.round(options.seconds / 2));
    for (const [name, target] of [['etcd', direct], ['etcd-warden', proxy]] as const) {
      options.progress(`warming up ${name} (Range and Put, 2 s each)`);
      await runUnaryLoad(target, rangeLoad, shape(2));
      await runUnaryLoad(target, putLoad('/open'), shape(2));
    }
    options.progress(`Range: etcd direct and etcd-warden (ABBA, ${half} s halves)`);
    const [rangeDirect, rangeProxy] = await abba(() => runUnaryLoad(direct, rangeLoad, shape(half)), () => runUnaryLoad(proxy, rangeLoad, shape(half)));
    options.progress(`Put straight on etcd (${options.seconds} s)`);
    const putDirect = await runUnaryLoad(direct, putLoad('/open'), shape(options.seconds));
    options.progress(`Put through etcd-warden, anonymous prefix and authenticated (ABBA, ${half} s halves)`);
    const [proxyOpen, proxyAuthenticated] = await abba(() => runUnaryLoad(proxy, putLoad('/open'), shape(half)), () => runUnaryLoad(proxy, putLoad('/bench', token), shape(half)));
    await warden.daemon.stop();
    // A proxy of its own, so the baseline is not the heap left over from the load runs.
    const watchWarden = await startWarden(dir, { name: 'warden-v3-watches', etcdOrigin: etcd.clientUrl, tls, htpasswd, workers: 1 });
    const watchProxy: V3Target = { url: watchWarden.url, rootCertificate: proxy.rootCertificate ?? Buffer.alloc(0) };
    // Warm it (JIT, TLS, the connection to etcd) so the baseline is a running proxy, not a cold one.
    await runUnaryLoad(watchProxy, rangeLoad, { connections: 4, concurrency: 16, seconds: 1 });
    const watches = await measureWatches(direct, watchProxy, watchWarden.daemon.pid, etcd.clientUrl, options.watches, options.progress);
    await watchWarden.daemon.stop();
    const etcdVersion = (await (await fetch(`${etcd.clientUrl}/version`)).json()) as { etcdserver?: string };
    const heading = [
      `etcd-warden v3 bench: grpc-js, ${shape(options.seconds).concurrency} unary calls in flight over ${shape(options.seconds).connections} connections, all on 127.0.0.1, ${availableParallelism()} CPUs`,
      `node ${process.version}, etcd ${etcdVersion.etcdserver ?? '?'}; etcd-warden (workers: 1) over TLS (its one port, h2 by ALPN), etcd plain HTTP/2`,
    ].join('\n');
    return render({ range: { direct: rangeDirect, proxy: rangeProxy }, put: { direct: putDirect, proxyOpen, proxyAuthenticated }, watches }, options, heading);
  } finally {
    await cleanUpAll();
  }
}
