// The watch clients of the fan-out rows as a few child processes
// (watch-client-process.ts), each holding a share of the watches: bounded
// (at most 4, ~5,000 watches each) and each well under the file limit.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { onCleanup, trackChild } from './cleanup.js';

export type ClientCommand =
  | { readonly type: 'open'; readonly url: string; readonly count: number }
  | { readonly type: 'collect'; readonly deadlineEpochMs: number }
  | { readonly type: 'close' };

export type ClientReport =
  | { readonly type: 'opened' }
  | { readonly type: 'failed'; readonly message: string }
  | { readonly type: 'delivered'; readonly times: readonly number[]; readonly total: number };

const clientScript = fileURLToPath(new URL('./watch-client-process.js', import.meta.url));
const watchesPerClient = 5000;
const maxClients = 4;

export function clientCount(watches: number): number {
  return Math.min(maxClients, Math.max(1, Math.ceil(watches / watchesPerClient)));
}

function nextReport(child: ChildProcess): Promise<ClientReport> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null): void => reject(new Error(`watch client exited (${code}) before answering`));
    child.once('exit', onExit);
    child.once('message', (report: ClientReport) => {
      child.off('exit', onExit);
      resolve(report);
    });
  });
}

export interface WatchClients {
  /** Epoch ms of each delivery, from every client; `total` is how many watches were open. */
  collect(deadlineEpochMs: number): Promise<{ readonly times: number[]; readonly total: number }>;
  close(): Promise<void>;
}

/** Opens `watches` watches of `url` spread over the clients; resolves once every one is registered. */
export async function openWatchClients(url: string, watches: number): Promise<WatchClients> {
  const count = clientCount(watches);
  const children = Array.from({ length: count }, () => {
    const child = fork(clientScript, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    trackChild(child);
    onCleanup('watch client', () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    return child;
  });
  const close = async (): Promise<void> => {
    await Promise.all(children.map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      if (child.connected) child.send({ type: 'close' } satisfies ClientCommand);
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }));
  };
  try {
    const opened = await Promise.all(children.map((child, i) => {
      const share = Math.floor(watches / count) + (i < watches % count ? 1 : 0);
      const report = nextReport(child);
      child.send({ type: 'open', url, count: share } satisfies ClientCommand);
      return report;
    }));
    const failed = opened.find((report) => report.type === 'failed');
    if (failed?.type === 'failed') throw new Error(`opening watches: ${failed.message}`);
  } catch (error) {
    await close();
    throw error;
  }
  return {
    async collect(deadlineEpochMs) {
      const reports = await Promise.all(children.map((child) => {
        const report = nextReport(child);
        child.send({ type: 'collect', deadlineEpochMs } satisfies ClientCommand);
        return report;
      }));
      const times: number[] = [];
      let total = 0;
      for (const report of reports) {
        if (report.type !== 'delivered') throw new Error(`watch client answered ${report.type}`);
        times.push(...report.times);
        total += report.total;
      }
      return { times, total };
    },
    close,
  };
}
