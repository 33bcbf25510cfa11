// `etcd-warden mirror ...`: parse, run until SIGTERM/SIGINT (exit 0 after
// recording the index) or a fatal error (exit 1, reason on stderr and in the log).
import { pino } from 'pino';
import { startMirror } from '../../mirror/main.js';
import { mirrorUsage, parseMirrorArgs } from '../../mirror/options.js';

export async function mirrorCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(mirrorUsage + '\n');
    return 0;
  }
  const options = parseMirrorArgs(argv);
  if ('error' in options) {
    process.stderr.write(`etcd-warden mirror: ${options.error}\n${mirrorUsage}\n`);
    return 2;
  }
  const log = pino({ level: options.logLevel, base: { component: 'mirror' } });
  let mirror;
  try {
    mirror = await startMirror(options, log);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    log.fatal({ err: message }, 'mirror could not start');
    process.stderr.write(`etcd-warden mirror: could not start: ${message}\n`);
    return 1;
  }
  const running = mirror;
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
