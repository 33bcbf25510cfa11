// The mirror as a process, standalone (`etcd-warden mirror`) or bundled (a
// child of the proxy): run until SIGTERM, SIGINT or SIGHUP (exit 0 after
// recording the index) or a fatal error (exit 1, the reason on stderr and in
// the log). A stop that needs a human (stop.ts: a replica written behind the
// mirror's back) keeps the process and its status port up in state
// `stopped`, so systemd sees a running unit, Prometheus scrapes the state
// and `mirror-status` shows the key, both values and the index, until an
// operator restarts it (with --reload after mirror-verify, to repair).
import { setFlagsFromString } from 'node:v8';
import { jsonLog, type MirrorLog } from './log.js';
import type { RunningMirror } from './main.js';
import { mirrorNodeFlags, type MirrorOptions } from './options.js';

// A mirror started with the small young generation of mirrorNodeFlags
// (options.ts: the unit's NODE_OPTIONS, the bundled child's flags) runs for
// memory: V8 also sizes its old generation for memory rather than speed from
// here on (it reads this flag at every heap resize; NODE_OPTIONS does not
// accept it). Measured at 1,500 replicated writes/s: peak RSS 69-72 MiB
// instead of 84-87, the same CPU time; at 5,000 writes/s inside the prefix
// the two flags cost throughput (README, "The mirror": Memory). Started
// without them, the mirror runs for speed.
if (runsForMemory(process.execArgv, process.env.NODE_OPTIONS)) setFlagsFromString('--optimize-for-size');

/** Whether this process was started with the mirror's memory flags, on its command line or in NODE_OPTIONS. */
export function runsForMemory(execArgv: readonly string[], nodeOptions: string | undefined): boolean {
  const flags = [...execArgv, ...(nodeOptions ?? '').split(/\s+/)];
  return mirrorNodeFlags.every((wanted) => flags.includes(wanted));
}

/** The v3 modes load gRPC only when they run: the v2 mirror does not carry it. */
async function start(options: MirrorOptions, log: MirrorLog): Promise<RunningMirror> {
  switch (options.api) {
    case 'v2':
      return (await import('./main.js')).startMirror(options, log);
    case 'v3':
      return (await import('./v3/main.js')).startMirrorV3(options, log);
    case 'v2-to-v3':
      return (await import('./v3/main.js')).startMirrorV2ToV3(options, log);
  }
}

export async function runMirrorProcess(options: MirrorOptions): Promise<number> {
  const log = jsonLog(options.logLevel, { component: 'mirror', ...(options.api === 'v2' ? {} : { api: options.api }) });
  let running: RunningMirror;
  try {
    running = await start(options, log);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    log.fatal({ err: message }, 'mirror could not start');
    process.stderr.write(`etcd-warden mirror: could not start: ${message}\n`);
    return 1;
  }
  let signalled = false;
  let signalledNow: () => void = () => undefined;
  const whenSignalled = new Promise<void>((resolve) => (signalledNow = resolve));
  const onSignal = (signal: NodeJS.Signals): void => {
    log.info({ signal }, 'stopping');
    signalled = true;
    signalledNow();
    void running.stop();
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  process.once('SIGHUP', onSignal);
  const exit = await running.done;
  if (exit.stop !== undefined && !signalled) {
    process.stderr.write(`etcd-warden mirror: replication stopped: ${exit.reason}\n`);
    log.error({ ...exit.stop, statusPort: running.statusPort }, 'replication stopped and stays stopped until the mirror is restarted (after `etcd-warden mirror-verify`, with --reload to repair); the status port keeps serving /status and /metrics');
    await whenSignalled;
  }
  await running.stop();
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);
  process.off('SIGHUP', onSignal);
  if (exit.code !== 0 && exit.stop === undefined) process.stderr.write(`etcd-warden mirror: ${exit.reason}\n`);
  // Stopped by a signal after a held stop: the operator asked, so 0 (systemd does not restart it).
  return exit.stop === undefined ? exit.code : 0;
}
