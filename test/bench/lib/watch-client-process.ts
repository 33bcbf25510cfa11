// A child process of the bench that holds a share of the open watches, so
// that reading 10,000 TLS responses at once is not one event loop's queue
// (the fan-out figure would then be the client's, not the proxy's). Driven
// over IPC by watch-clients.ts; times are epoch milliseconds
// (performance.timeOrigin + now), comparable across processes.
import https from 'node:https';
import type { ClientRequest } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { ClientCommand, ClientReport } from './watch-clients.js';

const requests: ClientRequest[] = [];
const deliveredAt: (number | undefined)[] = [];

function send(report: ClientReport): void {
  process.send?.(report);
}

function openWatch(url: URL): Promise<void> {
  return new Promise((resolve, reject) => {
    const request = https.request(url, { agent: false, rejectUnauthorized: false });
    const index = requests.push(request) - 1;
    deliveredAt[index] = undefined;
    request.once('error', reject);
    request.once('response', (response) => {
      if (response.statusCode !== 200) {
        request.destroy();
        reject(new Error(`watch ${url.pathname} answered ${response.statusCode}`));
        return;
      }
      response.resume();
      response.once('end', () => {
        deliveredAt[index] = performance.timeOrigin + performance.now();
      });
      // Headers arrive when etcd registers the watch: from here a write reaches it.
      resolve();
    });
    request.end();
  });
}

async function open(url: URL, count: number): Promise<void> {
  // In batches, so the proxy's accept backlog (511) is never the thing measured.
  for (let opened = 0; opened < count; opened += 100) {
    await Promise.all(Array.from({ length: Math.min(100, count - opened) }, () => openWatch(url)));
  }
}

async function awaitDeliveries(deadlineEpochMs: number): Promise<void> {
  while (performance.timeOrigin + performance.now() < deadlineEpochMs && deliveredAt.some((at) => at === undefined)) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

process.on('message', (command: ClientCommand) => {
  switch (command.type) {
    case 'open':
      open(new URL(command.url), command.count).then(
        () => send({ type: 'opened' }),
        (error: unknown) => send({ type: 'failed', message: error instanceof Error ? error.message : String(error) }),
      );
      return;
    case 'collect':
      void awaitDeliveries(command.deadlineEpochMs).then(() => send({ type: 'delivered', times: deliveredAt.filter((at): at is number => at !== undefined), total: requests.length }));
      return;
    case 'close':
      for (const request of requests) request.destroy();
      process.disconnect();
      return;
  }
});
