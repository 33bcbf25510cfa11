// Who is connected right now: open client connections and the requests in
// flight on them (watches included), for the reimage runbook's "ensure
// nothing uses etcd" step, which today means grepping logs and `ss`.
import type { Socket } from 'node:net';

export interface ClientConnection {
  readonly remote: string;
  readonly connections: number;
  /** Age of the oldest open connection from this address. */
  readonly oldestSeconds: number;
}

export interface ClientRequest {
  readonly remote: string;
  readonly user: string | null;
  readonly method: string;
  readonly key: string;
  readonly watch: boolean;
  readonly ageSeconds: number;
}

/** A request in flight as /clients shows it: a v2 AccessRecord, or a v3 call (method KV/Range, Watch/Watch…). */
export interface TrackedRequest {
  readonly remote: string;
  readonly user: string | undefined;
  readonly method: string;
  readonly target: string;
  readonly watch: boolean;
}

export interface ClientsReport {
  readonly connections: readonly ClientConnection[];
  readonly requests: readonly ClientRequest[];
}

export class ClientRegistry {
  private readonly sockets = new Map<Socket, { readonly remote: string; readonly since: number }>();
  private readonly requests = new Map<TrackedRequest, number>();

  trackConnection(socket: Socket): void {
    this.sockets.set(socket, { remote: socket.remoteAddress ?? '', since: Date.now() });
    socket.once('close', () => this.sockets.delete(socket));
  }

  /** Tracks a request until `done` is called. */
  trackRequest(access: TrackedRequest): () => void {
    this.requests.set(access, Date.now());
    return () => this.requests.delete(access);
  }

  report(now = Date.now()): ClientsReport {
    const byRemote = new Map<string, { connections: number; oldest: number }>();
    for (const { remote, since } of this.sockets.values()) {
      const entry = byRemote.get(remote) ?? { connections: 0, oldest: since };
      entry.connections += 1;
      entry.oldest = Math.min(entry.oldest, since);
      byRemote.set(remote, entry);
    }
    const connections = [...byRemote].map(([remote, { connections: count, oldest }]) => ({ remote, connections: count, oldestSeconds: (now - oldest) / 1000 }));
    const requests = [...this.requests].map(([access, since]) => ({
      remote: access.remote,
      user: access.user ?? null,
      method: access.method,
      key: access.target,
      watch: access.watch,
      ageSeconds: (now - since) / 1000,
    }));
    connections.sort((a, b) => b.connections - a.connections || a.remote.localeCompare(b.remote));
    requests.sort((a, b) => b.ageSeconds - a.ageSeconds);
    return { connections, requests };
  }
}

/** Several proxy processes' reports as one (a cluster's workers): connections added up by address, requests together. */
export function mergeClientsReports(reports: readonly ClientsReport[]): ClientsReport {
  const byRemote = new Map<string, { connections: number; oldestSeconds: number }>();
  for (const connection of reports.flatMap((report) => report.connections)) {
    const entry = byRemote.get(connection.remote) ?? { connections: 0, oldestSeconds: 0 };
    entry.connections += connection.connections;
    entry.oldestSeconds = Math.max(entry.oldestSeconds, connection.oldestSeconds);
    byRemote.set(connection.remote, entry);
  }
  const connections = [...byRemote].map(([remote, entry]) => ({ remote, ...entry }));
  const requests = reports.flatMap((report) => report.requests);
  connections.sort((a, b) => b.connections - a.connections || a.remote.localeCompare(b.remote));
  requests.sort((a, b) => b.ageSeconds - a.ageSeconds);
  return { connections, requests };
}
