// One proxy worker of a cluster (`workers: N`), forked by the primary
// (primary.ts) with this file as its entry. It never reads the config files:
// it loads the bytes the primary validated, serves the shared listen address
// (node:cluster hands it connections), applies each reload the primary sends
// and answers the primary's questions. SIGTERM and SIGINT end it as they end
// a single proxy process: watches cut as a stopping etcd cuts them, ordinary
// requests given their grace. A SIGHUP is the primary's business.
import cluster from 'node:cluster';
import type { Logger } from 'pino';
import { snapshotSource } from '../../config/files.js';
import { loadConfig, type LoadedConfig } from '../../config/load.js';
import { CredentialVerifier } from '../auth/verifier.js';
import { createProxyLog, flushLog } from '../log.js';
import { ProxyMetrics } from '../metrics.js';
import { ProxyServer } from '../server.js';
import { isMessage, snapshotFromWire, type Answers, type ConfigOnTheWire, type FromWorker, type Question, type ToWorker, type WorkerStart } from './messages.js';
import { PrimaryLimiter, TokenUseRelay } from './worker-share.js';

function send(message: FromWorker): void {
  if (process.connected) process.send?.(message);
}

async function load(config: ConfigOnTheWire): Promise<LoadedConfig> {
  const loaded = await loadConfig(config.file, snapshotSource(snapshotFromWire(config)));
  // The primary validated these very bytes; failing here is a bug, not an operator's mistake.
  if (!loaded.ok) throw new Error(`the config the primary validated does not load here: ${loaded.errors.join('; ')}`);
  return loaded.value;
}

function firstStart(): Promise<WorkerStart> {
  return new Promise((resolve) => {
    const listener = (message: unknown): void => {
      if (!isMessage<ToWorker>(message) || message.kind !== 'start') return;
      process.off('message', listener);
      resolve(message);
    };
    process.on('message', listener);
    send({ kind: 'ready' });
  });
}

async function serve(start: WorkerStart): Promise<void> {
  const loaded = await load(start.config);
  const id = cluster.worker?.id ?? 0;
  const log = createProxyLog(loaded.config.logLevel, { worker: id });
  const metrics = new ProxyMetrics();
  const verifier = new CredentialVerifier({ table: loaded.users });
  const limiter = new PrimaryLimiter(send);
  const tokenUses = new TokenUseRelay(send);
  const proxy = new ProxyServer(loaded, {
    log, metrics, verifier, limiter,
    cluster: { tokens: { secret: Buffer.from(start.tokenSecret, 'base64'), used: tokenUses.used }, ticketKeys: Buffer.from(start.ticketKeys, 'base64') },
  });
  for (const [nonce, at] of start.tokenUses) proxy.learnTokenUse(nonce, at);
  const url = await proxy.listen();

  let stopping: Promise<void> | undefined;
  const stop = (why: string): Promise<void> => {
    stopping ??= (async () => {
      log.info({ why, openWatches: proxy.openWatches }, 'worker shutting down: ending watches, draining requests');
      tokenUses.flush();
      await proxy.close();
      await verifier.close();
      await flushLog(log);
      process.exit(0);
    })();
    return stopping;
  };
  process.on('message', (message: unknown) => {
    if (!isMessage<ToWorker>(message)) return;
    switch (message.kind) {
      case 'reload':
        void reload(proxy, message.id, message.config, log);
        return;
      case 'ask':
        void answer(message.id, message.question, proxy, metrics);
        return;
      case 'limit':
        limiter.answered(message.id, message.decision);
        return;
      case 'token-uses':
        for (const [nonce, at] of message.uses) proxy.learnTokenUse(nonce, at);
        return;
      case 'stop':
        void stop('asked by the primary');
        return;
      case 'start':
        return;
    }
  });
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
  process.on('SIGHUP', () => log.warn('SIGHUP reloads through the primary process (systemctl reload sends it there); this worker ignores it'));
  // The primary is gone (killed): no one would reload, restart or stop this worker.
  process.once('disconnect', () => void stop('the primary process is gone'));
  send({ kind: 'listening', url });
}

async function reload(proxy: ProxyServer, id: number, config: ConfigOnTheWire, log: Logger): Promise<void> {
  try {
    const loaded = await load(config);
    const atNextRestart = proxy.reload(loaded);
    send({ kind: 'reloaded', id, atNextRestart });
  } catch (error) {
    log.error({ err: error }, 'could not apply the config the primary validated');
    send({ kind: 'reload-failed', id, error: (error as Error).message });
  }
}

async function answer(id: number, question: Question, proxy: ProxyServer, metrics: ProxyMetrics): Promise<void> {
  let value: Answers[Question];
  switch (question) {
    case 'clients':
      value = proxy.clients.report();
      break;
    case 'open-watches':
      value = proxy.openWatches;
      break;
    case 'metrics':
      value = await metrics.registry.getMetricsAsJSON();
      break;
  }
  send({ kind: 'answer', id, value });
}

firstStart().then(serve).catch((error: unknown) => {
  process.stderr.write(`etcd-warden proxy worker: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
