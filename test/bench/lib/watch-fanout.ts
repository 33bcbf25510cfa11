// What N open long-poll watches cost a proxy (RSS and CPU of its whole
// process tree, from /proc) and how long one write takes to reach all of
// them. Each watch is its own TLS connection (agent: false), as 2,000
// confd/pybal clients would be, held by a few client processes
// (watch-clients.ts) rather than by the bench's own event loop.
import { performance } from 'node:perf_hooks';
import { expectStatus, probe } from './probe.js';
import { treeCpuSeconds, treeRss } from './proc-tree.js';
import { sleep } from './processes.js';
import { clientCount, openWatchClients } from './watch-clients.js';

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
  /** Client processes the watches were spread over. */
  readonly clients: number;
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

  const url = `${plan.proxyUrl}/v2/keys${plan.key}?wait=true`;
  const cpuBefore = await treeCpuSeconds(plan.serverPid);
  const openStarted = performance.now();
  const clients = await openWatchClients(url, plan.watches);
  try {
    const openSeconds = (performance.now() - openStarted) / 1000;
    await sleep(2000);
    // Taken after the settling pause, so work the proxy finishes late (a GC, TLS buffers) counts too.
    const openCpuSeconds = (await treeCpuSeconds(plan.serverPid)) - cpuBefore;
    const rssAfterBytes = (await treeRss(plan.serverPid)).totalBytes;

    // Epoch ms, as the client processes stamp their deliveries.
    const written = performance.timeOrigin + performance.now();
    await expectStatus('fan-out write', `${plan.etcdUrl}/v2/keys${plan.key}`, [200, 201], { method: 'PUT', body: 'value=event' });
    const { times, total } = await clients.collect(written + waitMs);
    const last = times.length === total ? Math.max(...times) : Infinity;
    return {
      watches: total,
      rssBeforeBytes,
      rssAfterBytes,
      openSeconds,
      openCpuSeconds,
      fanOutMs: Number.isFinite(last) ? last - written : undefined,
      delivered: times.length,
      waitMs,
      clients: clientCount(plan.watches),
    };
  } finally {
    await clients.close();
  }
}
