// Helpers for the v3 mirror tests: the Node etcd3 client (a real v3 client)
// on the source, listings of both sides, and waits.
import { Etcd3, type IKeyValue } from 'etcd3';
import { afterAll, beforeAll } from 'vitest';
import type { SourceAndReplica } from './mirror-helpers.js';
import { waitFor } from './mirror-helpers.js';

export interface V3Clients {
  readonly source: Etcd3;
  readonly replica: Etcd3;
}

/** etcd3 clients on the describe block's two etcds (after its useSourceAndReplica), closed after it. */
export function useV3Clients(clusters: SourceAndReplica): V3Clients {
  let opened: Etcd3[] = [];
  beforeAll(() => {
    opened = [new Etcd3({ hosts: clusters.source.clientUrl }), new Etcd3({ hosts: clusters.replica.clientUrl })];
  });
  afterAll(() => {
    for (const client of opened) client.close();
  });
  const client = (index: number): Etcd3 => {
    const found = opened[index];
    if (found === undefined) throw new Error('the v3 clients are only there inside their describe block');
    return found;
  };
  return {
    get source() {
      return client(0);
    },
    get replica() {
      return client(1);
    },
  };
}

/** Every key starting with `prefix`, as key (without the prefix) → value. */
export async function v3Listing(client: Etcd3, prefix: string): Promise<Record<string, string>> {
  const found = await client.getAll().prefix(prefix).strings();
  const out: Record<string, string> = {};
  for (const key of Object.keys(found).sort()) out[key.slice(prefix.length)] = found[key] ?? '';
  return out;
}

/** Key → the full key-value (for versions and revisions). */
export async function v3KeyValues(client: Etcd3, prefix: string): Promise<Map<string, IKeyValue>> {
  const response = await client.getAll().prefix(prefix).exec();
  return new Map(response.kvs.map((kv) => [kv.key.toString().slice(prefix.length), kv]));
}

/** Waits until the replica's keys under `replicaPrefix` equal the source's under `sourcePrefix`. */
export async function waitV3Converged(clients: V3Clients, sourcePrefix: string, replicaPrefix: string, timeoutMs = 20_000): Promise<Record<string, string>> {
  let last: { source: Record<string, string>; replica: Record<string, string> } = { source: {}, replica: {} };
  try {
    await waitFor(async () => {
      last = { source: await v3Listing(clients.source, sourcePrefix), replica: await v3Listing(clients.replica, replicaPrefix) };
      return JSON.stringify(last.source) === JSON.stringify(last.replica);
    }, timeoutMs, 'the v3 replica to converge');
  } catch (error) {
    const cut = (listing: Record<string, string>): string => JSON.stringify(listing).slice(0, 2000);
    throw new Error(`${(error as Error).message}\nsource: ${cut(last.source)}\nreplica: ${cut(last.replica)}`);
  }
  return last.source;
}

/** The replica's record (`__etcd_warden/replication<dst-prefix>`), as a number. */
export async function recorded(client: Etcd3, recordKey: string): Promise<number | undefined> {
  const value = await client.get(recordKey).string();
  return value === null ? undefined : Number(value);
}

export async function metricsText(statusPort: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${statusPort}/metrics`)).text();
}
