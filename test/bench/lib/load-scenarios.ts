// The loads the table is made of, as data: which URL, which method, which
// credentials, against which server. Every scenario is checked with one
// request first (preflight) so the numbers measure what the label says.
import type { Htpasswd, HashFormat } from './credentials.js';
import { expectStatus } from './probe.js';
import { sleep } from './processes.js';
import { putScript, runWrk, type WrkResult } from './wrk.js';
import { startWrongPasswordFlood, type FloodRun } from './wrong-password-flood.js';

/** etcd-warden twice: `workers: 1` (one process) and `workers: 2` (a primary and two workers), issue 13. */
export type ServerName = 'etcd' | 'nginx' | 'warden1' | 'warden2';
export type ProxiedServer = Exclude<ServerName, 'etcd'>;
export type WardenName = Exclude<ProxiedServer, 'nginx'>;

export const wardenWorkers: Record<WardenName, number> = { warden1: 1, warden2: 2 };
export const wardenNames: readonly WardenName[] = ['warden1', 'warden2'];
export const proxiedServers: readonly ProxiedServer[] = ['nginx', ...wardenNames];

export const serverTitles: Record<ServerName, string> = { etcd: 'etcd direct', nginx: 'nginx', warden1: 'warden ×1', warden2: 'warden ×2' };

export type RowId = 'get' | `put-${HashFormat}` | 'put-open';

export interface LoadRow {
  readonly id: RowId;
  readonly label: string;
  /** Key path under the server's origin. */
  readonly path: string;
  readonly put: boolean;
  /** The writer whose password goes in the Authorization header (not for etcd direct, which has no auth). */
  readonly format?: HashFormat;
}

export const getPath = '/v2/keys/bench/k';
export const openPath = '/v2/keys/open/k';

export const loadRows: readonly LoadRow[] = [
  { id: 'get', label: 'anonymous GET', path: getPath, put: false },
  { id: 'put-bcrypt', label: 'auth PUT, bcrypt cost 10', path: getPath, put: true, format: 'bcrypt' },
  { id: 'put-apr1', label: 'auth PUT, apr1 (Apache MD5)', path: getPath, put: true, format: 'apr1' },
  { id: 'put-sha512', label: 'auth PUT, SHA-512 crypt', path: getPath, put: true, format: 'sha512' },
  { id: 'put-open', label: 'open-prefix PUT, no auth', path: openPath, put: true },
];

export interface LoadShape {
  readonly threads: number;
  readonly connections: number;
  readonly seconds: number;
}

export function authorizationFor(row: LoadRow, server: ServerName, htpasswd: Htpasswd): string | undefined {
  return row.format === undefined || server === 'etcd' ? undefined : htpasswd.writers[row.format].authorization;
}

export async function preflight(row: LoadRow, server: ServerName, origin: string, htpasswd: Htpasswd): Promise<void> {
  const authorization = authorizationFor(row, server, htpasswd);
  const label = `${serverTitles[server]} ${row.label}`;
  if (!row.put) return expectStatus(label, origin + row.path, [200]);
  await expectStatus(label, origin + row.path, [200, 201], {
    method: 'PUT', body: 'value=x', ...(authorization === undefined ? {} : { headers: { authorization } }),
  });
  if (row.format !== undefined && server !== 'etcd') {
    // The auth rows must really be guarded: without credentials, and with a wrong password, 401.
    await expectStatus(`${label} without credentials`, origin + row.path, [401], { method: 'PUT', body: 'value=x' });
  }
}

export async function runRow(row: LoadRow, server: ServerName, origin: string, htpasswd: Htpasswd, shape: LoadShape): Promise<WrkResult> {
  const authorization = authorizationFor(row, server, htpasswd);
  return runWrk({
    url: origin + row.path,
    ...shape,
    ...(row.put ? { script: putScript } : {}),
    ...(authorization === undefined ? {} : { authorization }),
  });
}

export type SideLoad =
  | { readonly kind: 'none' }
  | { readonly kind: 'auth-puts'; readonly result: WrkResult }
  | { readonly kind: 'wrong-passwords'; readonly result: FloodRun };

export interface MixedRun {
  readonly get: WrkResult;
  readonly side: SideLoad;
}

/**
 * GETs measured while a side load runs on 2 connections. The side load
 * starts a second early and ends a second late, so it covers the whole
 * measured window.
 */
export async function runMixed(origin: string, htpasswd: Htpasswd, shape: LoadShape, side: SideLoad['kind']): Promise<MixedRun> {
  const getLoad = { url: origin + getPath, ...shape };
  if (side === 'none') return { get: await runWrk(getLoad), side: { kind: 'none' } };
  const sideSeconds = shape.seconds + 2;
  const sideRun =
    side === 'auth-puts'
      ? runWrk({ url: origin + getPath, threads: 1, connections: 2, seconds: sideSeconds, script: putScript, authorization: htpasswd.writers.bcrypt.authorization })
          .then((result): SideLoad => ({ kind: 'auth-puts', result }))
      : startWrongPasswordFlood({ url: origin + getPath, user: htpasswd.writers.bcrypt.name, connections: 2, seconds: sideSeconds, perAddress: 8 })
          .then((result): SideLoad => ({ kind: 'wrong-passwords', result }));
  // Unhandled until awaited below; the GET run must not leave it dangling on failure.
  sideRun.catch(() => undefined);
  await sleep(1000);
  const get = await runWrk(getLoad);
  return { get, side: await sideRun };
}
