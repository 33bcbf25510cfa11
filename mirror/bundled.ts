// The mirror bundled in the proxy service: the same mirror in a child
// process (bundled-child.ts), so a mirror failure cannot take the proxy down,
// restarted with backoff. Its options travel typed, as JSON in
// ETCD_WARDEN_MIRROR_OPTIONS (not in argv, which any local user can read
// through `ps`: the source URL may hold a password). A stop that needs a
// human does not end the child (process.ts): it stays up, stopped, with its
// status port, so there is nothing to restart in a loop.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { MirrorLog } from './log.js';
import { encodeMirrorOptions, mirrorNodeFlags, mirrorOptionsVariable, type MirrorOptions } from './options.js';

/** Exit code 1 after a run shorter than this counts as a crash loop. */
const healthyRunMs = 60_000;
/** Exit code 1 is a fatal error (no recorded index, a source behind the record): retrying it often only spams logs. */
const fatalRestartMs = 30_000;

export function startBundledMirror(options: MirrorOptions, log: MirrorLog): { stop(): Promise<void> } {
  const entry = fileURLToPath(new URL('./bundled-child.js', import.meta.url));
  let child: ChildProcess | undefined;
  let stopped = false;
  let failures = 0;
  let timer: NodeJS.Timeout | undefined;
  let first = true;

  const launch = (): void => {
    if (stopped) return;
    // --reload only on the first start: a restart resumes from the recorded index.
    const run = { ...options, reload: options.reload && first };
    first = false;
    const startedAt = Date.now();
    const running = spawn(process.execPath, [...mirrorNodeFlags, entry], {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, [mirrorOptionsVariable]: encodeMirrorOptions(run) },
    });
    child = running;
    log.info({ pid: running.pid }, 'bundled mirror started');
    running.once('exit', (code, signal) => {
      child = undefined;
      if (stopped) return;
      failures = Date.now() - startedAt > healthyRunMs ? 1 : failures + 1;
      const delay = code === 1 ? Math.max(fatalRestartMs, backoffMs(failures)) : backoffMs(failures);
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
