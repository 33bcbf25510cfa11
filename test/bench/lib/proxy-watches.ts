// The watch rows of the proxy bench: each server freshly started (so the
// baseline is not the heap left over from the load runs), N watches opened
// through it, one write fanned out. The file-descriptor arithmetic decides
// up front whether a row can run on this machine, and says why not.
import { availableParallelism } from 'node:os';
import type { Htpasswd, TlsFiles } from './credentials.js';
import { serverTitles, wardenWorkers, type ProxiedServer } from './load-scenarios.js';
import { nginxWorkerConnections, startNginx } from './nginx.js';
import { openFileLimit } from './processes.js';
import { startWarden } from './warden.js';
import { clientCount } from './watch-clients.js';
import { measureWatchFanOut, type FanOutResult } from './watch-fanout.js';

export type WatchRow = FanOutResult | { readonly skipped: string };

export interface WatchServers {
  readonly dir: string;
  readonly etcdUrl: string;
  readonly tls: TlsFiles;
  readonly htpasswd: Htpasswd;
  readonly nginxBinary?: string;
}

/**
 * Why `watches` cannot run through `server` here, if they cannot. Each watch
 * holds one socket in a client process and in etcd, and two (client, upstream)
 * in the proxy process that took it: node:cluster hands connections out
 * round-robin, nginx's workers take them as they wake, so its worst case is
 * one worker holding them all (under the file limit; its connection limit
 * is per worker, and the watches are spread well enough to use them all).
 */
async function whyNot(server: ProxiedServer, watches: number): Promise<string | undefined> {
  const limit = await openFileLimit();
  const slack = 500;
  const perProxyProcess = server === 'nginx' ? 2 * watches : Math.ceil((2 * watches) / wardenWorkers[server]);
  const needed = Math.max(Math.ceil(watches / clientCount(watches)), perProxyProcess) + slack;
  // worker_processes auto: one nginx worker per CPU.
  if (server === 'nginx' && 2 * watches > availableParallelism() * nginxWorkerConnections) {
    return `${(2 * watches).toLocaleString('en-US')} connections (client + upstream per watch) exceed the production template's worker_connections ${nginxWorkerConnections} × ${availableParallelism()} workers`;
  }
  if (limit < needed) return `ulimit -n is ${limit}, ${watches} watches through ${serverTitles[server]} need ≥ ${needed}: run \`ulimit -n ${needed}\` first`;
  return undefined;
}

export async function measureWatchRow(servers: WatchServers, server: ProxiedServer, watches: number, progress: (message: string) => void, waitMs?: number): Promise<WatchRow> {
  const skipped = await whyNot(server, watches);
  if (skipped !== undefined) return { skipped };
  const name = `${server}-watches-${watches}`;
  let started: { readonly url: string; readonly pid: number; stop(): Promise<void> };
  if (server === 'nginx') {
    if (servers.nginxBinary === undefined) return { skipped: 'nginx is not installed' };
    const nginx = await startNginx(servers.nginxBinary, servers.dir, servers.etcdUrl, servers.tls, servers.htpasswd.file, name);
    started = { url: nginx.url, pid: nginx.daemon.pid, stop: () => nginx.daemon.stop() };
  } else {
    const warden = await startWarden(servers.dir, { name, etcdOrigin: servers.etcdUrl, tls: servers.tls, htpasswd: servers.htpasswd, workers: wardenWorkers[server] });
    started = { url: warden.url, pid: warden.daemon.pid, stop: () => warden.daemon.stop() };
  }
  progress(`opening ${watches} watches through a fresh ${serverTitles[server]}, then one write`);
  try {
    return await measureWatchFanOut({
      proxyUrl: started.url, etcdUrl: servers.etcdUrl, serverPid: started.pid, watches, key: `/bench/watched-${name}`,
      ...(waitMs === undefined ? {} : { waitMs }),
    });
  } finally {
    await started.stop();
  }
}
