// The mirror bundled in the proxy service: the same CLI in a child process,
// so a mirror failure cannot take the proxy down, restarted with backoff.
// Source and destination URLs travel in ETCD_WARDEN_MIRROR_SRC/_DST (not in
// argv, which any local user can read through `ps`).
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { MirrorOptions } from './options.js';

/** Exit code 1 after a run shorter than this counts as a crash loop. */
const healthyRunMs = 60_000;
/** A strictness stop needs a human; retrying it often only spams logs. */
const strictRestartMs = 30_000;

export function mirrorArgs(options: MirrorOptions): string[] {
  const args = [
    'mirror',
    '--src-prefix', options.srcPrefix,
    '--dst-prefix', options.dstPrefix,
    '--port', String(options.port),
    '--status-host', options.statusHost,
    '--on-index-cleared', options.onIndexCleared,
    '--idle-renew-ms', String(options.idleRenewMs),
    '--log-level', options.logLevel,
  ];
  if (options.strip) args.push('--strip');
  if (options.srcIgnoreKeysRegex !== undefined) args.push('--src-ignore-keys-regex', options.srcIgnoreKeysRegex.source);
  // --reload only on the first start: a restart resumes from the recorded index.
  if (options.reload) args.push('--reload');
  return args;
}

export function startBundledMirror(options: MirrorOptions, log: Logger): { stop(): Promise<void> } {
  const cli = fileURLToPath(new URL('../bin/etcd-warden.js', import.meta.url));
  let child: ChildProcess | undefined;
  let stopped = false;
  let failures = 0;
  let timer: NodeJS.Timeout | undefined;
  let first = true;

  const launch = (): void => {
    if (stopped) return;
    const args = mirrorArgs({ ...options, reload: options.reload && first });
    first = false;
    const startedAt = Date.now();
    const running = spawn(process.execPath, [cli, ...args], {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, ETCD_WARDEN_MIRROR_SRC: options.src, ETCD_WARDEN_MIRROR_DST: options.dst },
    });
    child = running;
    log.info({ pid: running.pid }, 'bundled mirror started');
    running.once('exit', (code, signal) => {
      child = undefined;
      if (stopped) return;
      failures = Date.now() - startedAt > healthyRunMs ? 1 : failures + 1;
      const delay = code === 1 ? Math.max(strictRestartMs, backoffMs(failures)) : backoffMs(failures);
      log.error({ code, signal, restartInMs: delay }, 'bundled mirror exited; restarting');
      timer = setTimeout(launch, delay);
    });
  };
  launch();
  return {
    async stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      const running = child;
      if (running === undefined || running.exitCode !== null) return;
      await new Promise<void>((resolve) => {
        const kill = setTimeout(() => running.kill('SIGKILL'), 10_000);
        running.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        running.kill('SIGTERM');
      });
    },
  };
}

function backoffMs(failures: number): number {
  return Math.min(1_000 * 2 ** Math.max(0, failures - 1), 30_000);
}
