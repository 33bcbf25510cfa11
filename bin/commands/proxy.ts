// The proxy process: load the config, serve, reload on SIGHUP (a bad file is
// refused and the old config stays in force), drain and exit on SIGTERM.
// It serves the port itself (`workers: 1`) or as the primary of N worker
// processes (proxy/cluster/); either way this process alone owns the
// signals, the config's validation, the bundled mirror, the metrics address
// and the member-URL check.
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { recordingSource } from '../../config/files.js';
import { loadConfig, type LoadedConfig } from '../../config/load.js';
import type { MirrorSection, Validation } from '../../config/schema.js';
import { startBundledMirror } from '../../mirror/bundled.js';
import { mirrorDefaults, type MirrorOptions } from '../../mirror/options.js';
import { FailedAuthLimiter } from '../../proxy/auth/failure-limiter.js';
import { serveInWorkers } from '../../proxy/cluster/cluster-serving.js';
import { configOnTheWire, type ConfigOnTheWire } from '../../proxy/cluster/messages.js';
import { createProxyLog, flushLog } from '../../proxy/log.js';
import { MemberUrlCheck } from '../../proxy/member-url-check.js';
import { ProxyMetrics } from '../../proxy/metrics.js';
import { startMetricsServer } from '../../proxy/metrics-server.js';
import type { Serving } from '../../proxy/serving.js';
import { upstreamOptionsOf } from '../../proxy/upstream-options.js';
import { configFlags, sayConfigErrors } from './check-config.js';
import { positionalArguments, runCommand, UsageError, type CommandIo } from './flags.js';

export function proxyCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  const spec = { name: 'proxy', usage: 'usage: etcd-warden proxy --config FILE', flags: configFlags, usageExitCode: 2 };
  return runCommand(argv, spec, io, async ({ flags, positional }) => {
    positionalArguments(positional, []);
    if (flags.config === undefined) throw new UsageError('--config is required');
    const loaded = await loadRecorded(flags.config);
    if (!loaded.ok) {
      sayConfigErrors(flags.config, 'refusing to start, the config has errors', loaded.errors, io);
      return 1;
    }
    return runProxy(loaded.value.loaded, loaded.value.wire);
  });
}

/** The config and the exact bytes of every file it read, which workers load instead of the disk. */
async function loadRecorded(file: string): Promise<Validation<{ loaded: LoadedConfig; wire: ConfigOnTheWire }>> {
  const recording = recordingSource((path) => readFile(path));
  const loaded = await loadConfig(file, recording.source);
  return loaded.ok ? { ok: true, value: { loaded: loaded.value, wire: configOnTheWire(file, recording.snapshot()) } } : loaded;
}

async function runProxy(loaded: LoadedConfig, wire: ConfigOnTheWire): Promise<number> {
  const { file: configFile, config } = loaded;
  const log = createProxyLog(config.logLevel);
  for (const warning of loaded.warnings) log.warn({ configFile }, warning);

  const metrics = new ProxyMetrics();
  const limiter = new FailedAuthLimiter();
  const workers = config.workers ?? availableParallelism();
  // A primary loads no request path (undici, the v3 decoder): its workers do.
  const serving: Serving = workers === 1
    ? await (await import('../../proxy/serving.js')).serveInThisProcess(loaded, { log, metrics, limiter })
    : await serveInWorkers(loaded, wire, workers, { log, metrics, limiter });
  let current = loaded;
  log.info({ address: serving.url, upstream: config.upstream.origin, readOnly: config.readOnly, tls: loaded.tls !== undefined, workers }, 'proxy listening');

  const memberUrls = new MemberUrlCheck({ log, metrics, current: () => ({ upstreamOptions: upstreamOptionsOf(current), advertise: current.config.advertise }) });
  memberUrls.start();
  const metricsServer = config.metrics === undefined ? undefined : await startMetricsServer(config.metrics, {
    metrics: () => serving.metrics(),
    health: async () => {
      const problems = memberUrls.problems();
      return { status: problems.length === 0 ? 'ok' : 'degraded', problems, readOnly: current.config.readOnly, openWatches: await serving.openWatches(), configFile };
    },
    clients: () => serving.clients(),
  });
  if (metricsServer !== undefined) log.info({ address: `${config.metrics?.host}:${metricsServer.port}` }, 'metrics listening');

  const mirror = config.mirror === undefined ? undefined : startBundledMirror(bundledMirrorOptions(config.mirror, loaded), log);

  let reloading = Promise.resolve();
  process.on('SIGHUP', () => {
    reloading = reloading.then(async () => {
      const next = await loadRecorded(configFile);
      if (!next.ok) {
        metrics.configReloads.inc({ result: 'failure' });
        log.error({ configFile, errors: next.errors }, 'config reload refused; the previous config stays in force');
        return;
      }
      const { loaded: nextLoaded, wire: nextWire } = next.value;
      for (const warning of nextLoaded.warnings) log.warn({ configFile }, warning);
      for (const note of await serving.reload(nextLoaded, nextWire)) log.warn({ configFile }, note);
      current = nextLoaded;
      metrics.configReloads.inc({ result: 'success' });
      log.info({ configFile, readOnly: nextLoaded.config.readOnly }, 'config reloaded');
      await memberUrls.checkNow();
    });
  });

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      void (async () => {
        log.info({ signal, openWatches: await serving.openWatches() }, 'shutting down: ending watches, draining requests');
        memberUrls.stop();
        await Promise.all([serving.stop(), mirror?.stop(), new Promise<void>((done) => (metricsServer === undefined ? done() : metricsServer.server.close(() => done())))]);
        log.info('stopped');
        await flushLog(log);
        resolve(0);
      })();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

/**
 * The bundled mirror writes straight to the local etcd (the upstream), not
 * through the proxy's read-only switch, trusting the upstream's CA; its source
 * with the mirror section's TLS files.
 */
function bundledMirrorOptions(section: MirrorSection, loaded: LoadedConfig): MirrorOptions {
  const { upstream, upstreamCa, logLevel } = loaded.config;
  const dstCa = loaded.upstreamCa === undefined || upstreamCa === undefined ? undefined : { ca: { path: upstreamCa, pem: loaded.upstreamCa, setting: 'upstreamCa' } };
  return {
    api: section.api,
    src: section.src,
    dst: upstream.origin,
    tls: { ...(loaded.mirrorSourceTls === undefined ? {} : { src: loaded.mirrorSourceTls }), ...(dstCa === undefined ? {} : { dst: dstCa }) },
    srcPrefix: section.srcPrefix,
    dstPrefix: section.dstPrefix,
    strip: section.strip,
    port: section.port,
    statusHost: mirrorDefaults.statusHost,
    reload: section.reload,
    onIndexCleared: section.onIndexCleared,
    idleRenewMs: mirrorDefaults.idleRenewMs,
    logLevel,
    ...(section.srcIgnoreKeysRegex === undefined ? {} : { srcIgnoreKeysRegex: new RegExp(section.srcIgnoreKeysRegex) }),
  };
}
