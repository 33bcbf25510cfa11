// Seeded generator of etcd v3 requests for the differential fuzz: keys on
// and around ACL boundaries (/pub vs /pubx, /pub0, /pub.x, the stricter
// /pub/locked, the unreadable /pub/secret), every spelling of range_end
// ("", "\0", prefix ends, inverted, arbitrary), Txns nested up to three
// levels with both branches, prev_kv, and leases held by the fuzzer or by
// root. Independent of the proxy's code: the oracle below is string logic.
import { seededRandom } from './proxy-fuzz-generator.js';

export type FuzzRequest =
  | { readonly kind: 'unary'; readonly service: string; readonly method: string; readonly request: Record<string, unknown> }
  | { readonly kind: 'keepalive'; readonly lease: string }
  | { readonly kind: 'watch'; readonly request: Record<string, unknown> };

const bases = ['/pub', '/pub/', '/pub/a', '/pub/b/', '/pub/locked', '/pub/locked/', '/pub/secret', '/pub/secret/', '/pubx', '/pub0', '/pub.', '/open/', '/open', '/hidden/', '/other', '/', '', '\0', 'noslash', '\xff'];
const suffixes = ['', '', 'a', 'b', '/', '/a', '0', '\xff', '.', 'x/y', '\0'];

/** Lease IDs both clusters hold from the seed: fuzzer's, root's, empty, unreadable. */
export const seededLeases = { fuzzer: '1001', root: '1002', empty: '1003', hidden: '1004' };

export function fuzzRequests(seed: number, count: number): FuzzRequest[] {
  const random = seededRandom(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const chance = (p: number): boolean => random() < p;
  let nextLease = 5000;
  const leases: string[] = [...Object.values(seededLeases), '999999'];

  const key = (): string => pick(bases) + pick(suffixes);
  const b = (text: string): Buffer => Buffer.from(text, 'latin1');
  const rangeEnd = (start: string): string => {
    const choice = random();
    if (choice < 0.3) return '';
    if (choice < 0.45) return '\0';
    if (choice < 0.65) return prefixEnd(start);
    if (choice < 0.7) return start;
    if (choice < 0.75) return '\0\0';
    return key();
  };
  const range = (): Record<string, unknown> => {
    const start = key();
    return { key: b(start), range_end: b(rangeEnd(start)) };
  };
  const put = (): Record<string, unknown> => ({
    key: b(key()), value: b(`v${Math.floor(random() * 1000)}`),
    ...(chance(0.3) ? { prev_kv: true } : {}),
    ...(chance(0.2) ? { lease: pick(leases) } : {}),
  });
  const deleteRange = (): Record<string, unknown> => ({ ...range(), ...(chance(0.3) ? { prev_kv: true } : {}) });
  const op = (depth: number): Record<string, unknown> => {
    const choice = random();
    if (choice < 0.3) return { request_range: range() };
    if (choice < 0.6) return { request_put: put() };
    if (choice < 0.85 || depth >= 3) return { request_delete_range: deleteRange() };
    return { request_txn: txn(depth + 1) };
  };
  const ops = (depth: number): Record<string, unknown>[] => Array.from({ length: Math.floor(random() * 3) }, () => op(depth));
  const txn = (depth: number): Record<string, unknown> => ({
    compare: Array.from({ length: Math.floor(random() * 2) }, () => ({ ...range(), result: 0, target: 0, version: '0' })),
    success: ops(depth),
    failure: ops(depth),
  });

  const requests: FuzzRequest[] = [];
  for (let i = 0; i < count; i++) {
    const choice = random();
    const unary = (service: string, method: string, request: Record<string, unknown>): FuzzRequest => ({ kind: 'unary', service, method, request });
    if (choice < 0.2) requests.push(unary('KV', 'Range', { ...range(), ...(chance(0.2) ? { keys_only: true } : {}), ...(chance(0.1) ? { count_only: true } : {}) }));
    else if (choice < 0.42) requests.push(unary('KV', 'Put', put()));
    else if (choice < 0.55) requests.push(unary('KV', 'DeleteRange', deleteRange()));
    else if (choice < 0.75) requests.push(unary('KV', 'Txn', txn(0)));
    else if (choice < 0.79) {
      const id = String(nextLease++);
      leases.push(id);
      requests.push(unary('Lease', 'LeaseGrant', { ID: id, TTL: '3600' }));
    } else if (choice < 0.83) requests.push(unary('Lease', 'LeaseRevoke', { ID: pick(leases) }));
    else if (choice < 0.88) requests.push(unary('Lease', 'LeaseTimeToLive', { ID: pick(leases), keys: chance(0.7) }));
    else if (choice < 0.9) requests.push(unary('Lease', 'LeaseLeases', {}));
    else if (choice < 0.93) requests.push({ kind: 'keepalive', lease: pick(leases) });
    else if (choice < 0.98) requests.push({ kind: 'watch', request: { create_request: { ...range(), ...(chance(0.3) ? { prev_kv: true } : {}) } } });
    else requests.push(unary('KV', 'Compact', { revision: '1' }));
  }
  return requests;
}

/** etcd's prefix end: last byte below 0xff incremented, the rest dropped; "\0" for none. */
export function prefixEnd(prefix: string): string {
  for (let i = prefix.length - 1; i >= 0; i--) {
    const code = prefix.charCodeAt(i);
    if (code < 0xff) return prefix.slice(0, i) + String.fromCharCode(code + 1);
  }
  return '\0';
}

// The oracle, written as plainly as the rules read (README, SPEC §5).
const under = (key: string, prefix: string): boolean => key === prefix || key.startsWith(`${prefix}/`);

/** Keys the fuzzer user may write: /pub except /pub/locked, and the open /open. */
export function fuzzerMayWrite(key: string): boolean {
  return (under(key, '/pub') && !under(key, '/pub/locked')) || under(key, '/open');
}

/** Keys the fuzzer user may read: all but /pub/secret and /hidden. */
export function fuzzerMayRead(key: string): boolean {
  return !under(key, '/pub/secret') && !under(key, '/hidden');
}
