// Long-running helpers of the bench (nginx, the proxy) as child processes
// whose output goes to a file in the bench's temp dir, so that writing logs
// costs them what it costs in production and nothing in the bench process.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { onCleanup, trackChild } from './cleanup.js';

export interface Daemon {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  readonly logFile: string;
  /** Last bytes of the log, for error messages. */
  logTail(): Promise<string>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

export function startDaemon(name: string, command: string, args: readonly string[], logFile: string, env?: NodeJS.ProcessEnv): Daemon {
  const fd = openSync(logFile, 'a');
  const child = spawn(command, args, { stdio: ['ignore', fd, fd], env: env ?? process.env });
  closeSync(fd);
  trackChild(child);
  if (child.pid === undefined) throw new Error(`${name}: could not start ${command}`);
  const pid = child.pid;
  const logTail = async (): Promise<string> => (await readFile(logFile, 'utf8').catch(() => '')).slice(-3000);
  const stop = async (graceMs = 10_000): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  };
  const daemon: Daemon = { name, child, pid, logFile, logTail, stop };
  onCleanup(name, () => stop());
  return daemon;
}

export async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `probe` until it returns a value, failing early if the daemon exits. */
export async function waitFor<T>(daemon: Daemon, what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (daemon.child.exitCode !== null || daemon.child.signalCode !== null) {
      throw new Error(`${daemon.name} exited (${daemon.child.exitCode ?? daemon.child.signalCode}) before ${what}:\n${await daemon.logTail()}`);
    }
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    await sleep(50);
  }
  throw new Error(`${daemon.name}: no ${what} within ${timeoutMs} ms:\n${await daemon.logTail()}`);
}

/** Runs a command to completion, returning stdout; rejects with stderr on a non-zero exit. */
export async function runCommand(command: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: options.env ?? process.env });
    trackChild(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`${command}: ${error.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(stdout);
      else reject(new Error(`${command} ${args.join(' ')} exited with ${code ?? signal}: ${stderr.trim()}`));
    });
  });
}

/** True when `command` is on PATH (or is an existing path). */
export async function commandExists(command: string): Promise<boolean> {
  return runCommand('sh', ['-c', `command -v "$0" >/dev/null`, command]).then(() => true, () => false);
}

/** The soft limit on open files this process (and so its children) runs with. */
export async function openFileLimit(): Promise<number> {
  const text = (await runCommand('sh', ['-c', 'ulimit -n'])).trim();
  return text === 'unlimited' ? Number.POSITIVE_INFINITY : Number(text);
}
