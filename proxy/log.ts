// The proxy's log: pino JSON lines on stdout (journald takes them), one
// writer per process. Asynchronous: one access line per request written
// synchronously cost a write(2) on every request; flushed before exit.
import pino, { type Logger } from 'pino';
import type { LogLevel } from '../config/schema.js';

/** `bindings`: what every line of this process carries besides the program (a cluster worker's number). */
export function createProxyLog(level: LogLevel, bindings: Readonly<Record<string, string | number>> = {}): Logger {
  return pino({ level, base: { program: 'etcd-warden-proxy', ...bindings } }, pino.destination({ dest: 1, sync: false }));
}

/** Resolves once every line written so far has left the process. */
export function flushLog(log: Logger): Promise<void> {
  return new Promise((flushed) => log.flush(() => flushed()));
}
