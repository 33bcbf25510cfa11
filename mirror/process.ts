// The mirror as a process, standalone (`etcd-warden mirror`) or bundled (a
// child of the proxy): run until SIGTERM, SIGINT or SIGHUP (exit 0 after
// recording the index) or a fatal error (exit 1, the reason on stderr and in
// the log).
import { pino } from 'pino';
import { startMirror, type RunningMirror } from './main.js';
import type { MirrorOptions } from './options.js';

export async function runMirrorProcess(options: MirrorOptions): Promise<number> {
  const log = pino({ level: options.logLevel, base: { component: 'mirror' } });
  let running: RunningMirror;
  try {
    running = await startMirror(options, log);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    log.fatal({ err: message }, 'mirror could not start');
    process.stderr.write(`etcd-warden mirror: could not start: ${message}\n`);
    return 1;
  }
  const onSignal = (signal: NodeJS.Signals): void => {
    log.info({ signal }, 'stopping');
    void running.stop();
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  process.once('SIGHUP', onSignal);
  const exit = await running.done;
  await running.stop();
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);
  process.off('SIGHUP', onSignal);
  if (exit.code !== 0) process.stderr.write(`etcd-warden mirror: ${exit.reason}\n`);
  log.flush();
  return exit.code;
}
