// The proxy process: load the config, serve, reload on SIGHUP (a bad file is
// refused and the old config stays in force), drain and exit on SIGTERM.
import pino from 'pino';
import { loadConfig, type LoadedConfig } from '../../config/load.js';
import type { MirrorSection } from '../../config/schema.js';
import { startBundledMirror } from '../../mirror/bundled.js';
import { mirrorDefaults, type MirrorOptions } from '../../mirror/options.js';
import { FailedAuthLimiter } from '../../proxy/auth/failure-limiter.js';
import { CredentialVerifier } from '../../proxy/auth/verifier.js';
import { MemberUrlCheck } from '../../proxy/member-url-check.js';
import { ProxyMetrics } from '../../proxy/metrics.js';
import { startMetricsServer } from '../../proxy/metrics-server.js';
import { ProxyServer } from '../../proxy/server.js';
import { configFlags, loadConfigOrSay } from './check-config.js';
import { positionalArguments, runCommand, type CommandIo } from './flags.js';

export function proxyCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  const spec = { name: 'proxy', usage: 'usage: etcd-warden proxy --config FILE', flags: configFlags, usageExitCode: 2 };
  return runCommand(argv, spec, io, async ({ flags, positional }) => {
    positionalArguments(positional, []);
    const loaded = await loadConfigOrSay(flags.config, 'refusing to start, the config has errors', io);
    return loaded === undefined ? 1 : runProxy(loaded);
  });
}

async function runProxy(loaded: LoadedConfig): Promise<number> {
  const { file: configFile, config } = loaded;
  // Asynchronous: one access line per request written synchronously cost a
  // write(2) on every request; flushed before exit below.
  const log = pino({ level: config.logLevel, base: { program: 'etcd-warden-proxy' } }, pino.destination({ dest: 1, sync: false }));
  for (const warning of loaded.warnings) log.warn({ configFile }, warning);

  const metrics = new ProxyMetrics();
  const verifier = new CredentialVerifier({ table: loaded.users });
  const limiter = new FailedAuthLimiter();
  const proxy = new ProxyServer(loaded, { log, metrics, verifier, limiter });
  const address = await proxy.listen();
  log.info({ address, upstream: config.upstream.origin, readOnly: config.readOnly, tls: loaded.tls !== undefined }, 'proxy listening');

  const memberUrls = new MemberUrlCheck({ log, metrics, current: () => proxy.runtime });
  memberUrls.start();
  const metricsServer = config.metrics === undefined ? undefined : await startMetricsServer(config.metrics, metrics, {
    health: () => {
      const problems = memberUrls.problems();
      return { status: problems.length === 0 ? 'ok' : 'degraded', problems, readOnly: proxy.runtime.readOnly, openWatches: proxy.openWatches, configFile };
    },
    clients: () => proxy.clients.report(),
  });
  if (metricsServer !== undefined) log.info({ address: `${config.metrics?.host}:${metricsServer.port}` }, 'metrics listening');

  const mirror = config.mirror === undefined ? undefined : startBundledMirror(bundledMirrorOptions(config.mirror, loaded), log);

  let reloading = Promise.resolve();
  process.on('SIGHUP', () => {
    reloading = reloading.then(async () => {
      const next = await loadConfig(configFile);
      if (!next.ok) {
        metrics.configReloads.inc({ result: 'failure' });
        log.error({ configFile, errors: next.errors }, 'config reload refused; the previous config stays in force');
        return;
      }
      for (const warning of next.value.warnings) log.warn({ configFile }, warning);
      for (const note of proxy.reload(next.value)) log.warn({ configFile }, note);
      metrics.configReloads.inc({ result: 'success' });
      log.info({ configFile, readOnly: next.value.config.readOnly }, 'config reloaded');
      await memberUrls.checkNow();
    });
  });

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      log.info({ signal, openWatches: proxy.openWatches }, 'shutting down: ending watches, draining requests');
      memberUrls.stop();
      void (async () => {
        await Promise.all([proxy.close(), mirror?.stop(), new Promise<void>((done) => (metricsServer === undefined ? done() : metricsServer.server.close(() => done())))]);
        await verifier.close();
        log.info('stopped');
        await new Promise<void>((flushed) => log.flush(() => flushed()));
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
