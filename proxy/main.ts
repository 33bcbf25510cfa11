// The proxy process: load the config, serve, reload on SIGHUP (a bad file is
// refused and the old config stays in force), drain and exit on SIGTERM.
import pino from 'pino';
import { loadConfig, type LoadedConfig } from '../config/load.js';
import { startBundledMirror } from '../mirror/bundled.js';
import { parseMirrorArgs, type MirrorOptions } from '../mirror/options.js';
import type { MirrorSection } from '../config/schema.js';
import { FailedAuthLimiter } from './auth/failure-limiter.js';
import { CredentialVerifier } from './auth/verifier.js';
import { ProxyMetrics } from './metrics.js';
import { MemberUrlCheck, readMemberUrls } from './member-url-check.js';
import { startMetricsServer } from './metrics-server.js';
import { compileRuntime } from './runtime.js';
import { ProxyServer } from './server.js';

export async function proxyCommand(argv: string[]): Promise<number> {
  const loaded = await configFromArgs(argv, 'proxy', 'refusing to start, the config has errors');
  if (typeof loaded === 'number') return loaded;
  const { configFile } = loaded;
  const config = loaded.value.config;
  // Asynchronous: one access line per request written synchronously cost a
  // write(2) on every request; flushed before exit below.
  const log = pino({ level: config.logLevel, base: { program: 'etcd-warden-proxy' } }, pino.destination({ dest: 1, sync: false }));
  for (const warning of loaded.value.warnings) log.warn({ configFile }, warning);

  const metrics = new ProxyMetrics();
  const verifier = new CredentialVerifier({ table: loaded.value.users });
  const limiter = new FailedAuthLimiter();
  const proxy = new ProxyServer(loaded.value, { log, metrics, verifier, limiter });
  const address = await proxy.listen();
  log.info({ address, upstream: config.upstream.origin, readOnly: config.readOnly, tls: loaded.value.tls !== undefined }, 'proxy listening');

  const memberUrls = new MemberUrlCheck({ log, metrics, current: () => ({ upstream: proxy.upstream, config: proxy.current.config }) });
  memberUrls.start();
  const metricsServer = config.metrics === undefined ? undefined : await startMetricsServer(config.metrics, metrics, {
    health: () => {
      const problems = memberUrls.problems();
      return { status: problems.length === 0 ? 'ok' : 'degraded', problems, readOnly: proxy.current.config.readOnly, openWatches: proxy.openWatches, configFile };
    },
    clients: () => proxy.clients.report(),
  });
  if (metricsServer !== undefined) log.info({ address: `${config.metrics?.host}:${metricsServer.port}` }, 'metrics listening');

  const mirrorOptions = config.mirror === undefined ? undefined : bundledMirrorOptions(config.mirror, config.upstream.origin, config.logLevel);
  if (mirrorOptions !== undefined && 'error' in mirrorOptions) {
    log.error({ error: mirrorOptions.error }, 'the mirror section cannot be turned into mirror options');
    await proxy.close();
    await new Promise<void>((flushed) => log.flush(() => flushed()));
    return 1;
  }
  const mirror = mirrorOptions === undefined ? undefined : startBundledMirror(mirrorOptions, log);

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

export async function checkConfigCommand(argv: string[]): Promise<number> {
  const loaded = await configFromArgs(argv, 'check-config', 'the configuration has errors');
  if (typeof loaded === 'number') return loaded;
  const { configFile } = loaded;
  for (const warning of loaded.value.warnings) process.stderr.write(`warning: ${warning}\n`);
  process.stdout.write(`${configFile}: the configuration is valid (${loaded.value.users.size} users, ${Object.keys(loaded.value.config.acls).length} ACL rules)\n`);
  return argv.includes('--online') ? checkOnline(loaded.value) : 0;
}

/** `check-config --online`: also asks the upstream etcd which client URLs it advertises. */
async function checkOnline(loaded: LoadedConfig): Promise<number> {
  const { upstream } = compileRuntime(loaded);
  try {
    const reading = await readMemberUrls(upstream, loaded.config);
    if (!reading.ok) {
      process.stderr.write(`${reading.error}\n`);
      return 1;
    }
    for (const bypass of reading.bypasses) {
      process.stderr.write(`error: etcd member ${bypass.member} advertises client URL ${bypass.url}, which ${bypass.problem}\n  fix: ${bypass.fix}\n`);
    }
    if (reading.bypasses.length > 0) return 1;
    process.stdout.write(`${loaded.config.upstream.origin}: every client URL etcd advertises goes through a proxy${loaded.config.advertise === undefined ? ' (as far as can be told without `advertise`)' : ''}\n`);
    return 0;
  } finally {
    await upstream.destroy();
  }
}

/** The bundled mirror writes straight to the local etcd (the upstream), not through the proxy's read-only switch. */
function bundledMirrorOptions(section: MirrorSection, upstream: string, logLevel: string): MirrorOptions | { error: string } {
  const argv = [
    '--src-prefix', section.srcPrefix,
    '--dst-prefix', section.dstPrefix,
    '--port', String(section.port),
    '--on-index-cleared', section.onIndexCleared,
    '--log-level', logLevel,
    ...(section.strip ? ['--strip'] : []),
    ...(section.reload ? ['--reload'] : []),
    ...(section.srcIgnoreKeysRegex === undefined ? [] : ['--src-ignore-keys-regex', section.srcIgnoreKeysRegex]),
  ];
  return parseMirrorArgs(argv, { ETCD_WARDEN_MIRROR_SRC: section.src, ETCD_WARDEN_MIRROR_DST: upstream });
}

/** `--config FILE` loaded and checked, or the exit code after printing why not (2 usage, 1 errors). */
async function configFromArgs(argv: string[], command: string, headline: string): Promise<{ configFile: string; value: LoadedConfig } | number> {
  const configFile = configFlag(argv);
  if (configFile === undefined) {
    process.stderr.write(`usage: etcd-warden ${command} --config FILE${command === 'check-config' ? ' [--online]' : ''}\n`);
    return 2;
  }
  const loaded = await loadConfig(configFile);
  if (!loaded.ok) {
    process.stderr.write(`${configFile}: ${headline}:\n${loaded.errors.map((e) => `  ${e}\n`).join('')}`);
    return 1;
  }
  return { configFile, value: loaded.value };
}

function configFlag(argv: string[]): string | undefined {
  const index = argv.findIndex((arg) => arg === '--config' || arg === '-c');
  if (index >= 0) return argv[index + 1];
  return argv.find((arg) => arg.startsWith('--config='))?.slice('--config='.length);
}
