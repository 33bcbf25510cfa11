// What N open long-poll watches cost a proxy (RSS and CPU of its whole
// process tree, from /proc) and how long one write takes to reach all of
// them. Each watch is its own TLS connection (agent: false), as 2,000
// confd/pybal clients would be. The client side is this one process.
import https from 'node:https';
import type { ClientRequest } from 'node:http';
import { performance } from 'node:perf_hooks';
import { expectStatus, probe } from './probe.js';
import { treeCpuSeconds, treeRss } from './proc-tree.js';
import { sleep } from './processes.js';

export interface FanOutPlan {
  readonly proxyUrl: string;
  readonly etcdUrl: string;
  /** The server's root process: nginx's master, etcd-warden's (primary) process. */
  readonly serverPid: number;
  readonly watches: number;
  readonly key: string;
  /** How long to wait for the last delivery before calling the rest lost. */
  readonly waitMs?: number;
}

export interface FanOutResult {
  readonly watches: number;
  /** Sum of VmRSS over the server's process tree, warm and idle, then with the watches open. */
  readonly rssBeforeBytes: number;
  readonly rssAfterBytes: number;
  readonly openSeconds: number;
  /** CPU time of the server's process tree while the watches were being opened. */
  readonly openCpuSeconds: number;
  /** From sending the write to the last watcher holding the whole event; undefined if some never did. */
  readonly fanOutMs: number | undefined;
  readonly delivered: number;
  readonly waitMs: number;
}

interface OpenWatch {
  readonly request: ClientRequest;
  deliveredAt: number | undefined;
}

function openWatch(url: URL): Promise<OpenWatch> {
  return new Promise((resolve, reject) => {
    const request = https.request(url, { agent: false, rejectUnauthorized: false });
    const watch: OpenWatch = { request, deliveredAt: undefined };
    request.once('error', reject);
    request.once('response', (response) => {
      if (response.statusCode !== 200) {
        request.destroy();
        reject(new Error(`watch ${url.pathname} answered ${response.statusCode}`));
        return;
      }
      response.resume();
      response.once('end', () => {
        watch.deliveredAt = performance.now();
      });
      // Headers arrive when etcd registers the watch: from here a write reaches it.
      resolve(watch);
    });
    request.end();
  });
}

export async function measureWatchFanOut(plan: FanOutPlan): Promise<FanOutResult> {
  const waitMs = plan.waitMs ?? 10_000;
  await expectStatus('fan-out key', `${plan.etcdUrl}/v2/keys${plan.key}`, [200, 201], { method: 'PUT', body: 'value=before' });
  // Warm the proxy (JIT, pools, TLS) so the baseline is a running proxy, not a cold one.
  for (let round = 0; round < 20; round++) {
    await Promise.all(Array.from({ length: 10 }, () => probe(`${plan.proxyUrl}/v2/keys${plan.key}`)));
  }
  await sleep(1000);
  const rssBeforeBytes = (await treeRss(plan.serverPid)).totalBytes;

  const url = new URL(`${plan.proxyUrl}/v2/keys${plan.key}?wait=true`);
  const watches: OpenWatch[] = [];
  const cpuBefore = await treeCpuSeconds(plan.serverPid);
  const openStarted = performance.now();
  try {
    // In batches, so the proxy's accept backlog (511) is never the thing measured.
    for (let opened = 0; opened < plan.watches; opened += 100) {
      const batch = Math.min(100, plan.watches - opened);
      watches.push(...(await Promise.all(Array.from({ length: batch }, () => openWatch(url)))));
    }
    const openSeconds = (performance.now() - openStarted) / 1000;
    await sleep(2000);
    // Taken after the settling pause, so work the proxy finishes late (a GC, TLS buffers) counts too.
    const openCpuSeconds = (await treeCpuSeconds(plan.serverPid)) - cpuBefore;
    const rssAfterBytes = (await treeRss(plan.serverPid)).totalBytes;

    const written = performance.now();
    await expectStatus('fan-out write', `${plan.etcdUrl}/v2/keys${plan.key}`, [200, 201], { method: 'PUT', body: 'value=event' });
    const deadline = written + waitMs;
    while (performance.now() < deadline && watches.some((watch) => watch.deliveredAt === undefined)) await sleep(5);
    const delivered = watches.filter((watch) => watch.deliveredAt !== undefined).length;
    const last = Math.max(...watches.map((watch) => watch.deliveredAt ?? Infinity));
    return {
      watches: watches.length,
      rssBeforeBytes,
      rssAfterBytes,
      openSeconds,
      openCpuSeconds,
      fanOutMs: Number.isFinite(last) ? last - written : undefined,
      delivered,
      waitMs,
    };
  } finally {
    for (const watch of watches) watch.request.destroy();
  }
}
