// The one fact a v3 decision needs from etcd itself: which keys are attached
// to a lease. Asked with LeaseTimeToLive(keys=true) on the proxy's own
// connection (LeaseLeases first when every lease matters).
//
// Known window: keys attached between this lookup and etcd acting on the
// request are not seen. Attaching a key to a lease needs write on every key
// already attached (checkLeasePuts), so only a user already allowed on the
// lease's keys can widen it; etcd's own check has the same window.
import { EtcdGrpcError, GrpcCode } from '../../mirror/etcd/v3/errors.js';
import { etcdProtoRoot } from '../../mirror/etcd/v3/proto.js';
import type { AttachedKeys } from './decide.js';
import { int64Field, repeatedMessages } from './message.js';
import type { EtcdUpstream } from './upstream.js';

const timeToLivePath = '/etcdserverpb.Lease/LeaseTimeToLive';
const leasesPath = '/etcdserverpb.Lease/LeaseLeases';

export type LeaseKeySource = (lease: string) => Promise<Buffer[]>;

/** Keys attached to one lease; none when etcd does not know the lease. */
export function leaseKeysFrom(upstream: EtcdUpstream): LeaseKeySource {
  return async (lease) => {
    const root = etcdProtoRoot();
    const request = root.lookupType('etcdserverpb.LeaseTimeToLiveRequest');
    const response = root.lookupType('etcdserverpb.LeaseTimeToLiveResponse');
    let answer: Buffer;
    try {
      answer = await upstream.unary(timeToLivePath, request.encode(request.fromObject({ ID: lease, keys: true })).finish());
    } catch (error) {
      // An unknown lease holds no keys; etcd will refuse the request itself.
      if (error instanceof EtcdGrpcError && error.code === GrpcCode.NotFound) return [];
      throw error;
    }
    const view = response.toObject(response.decode(answer), { longs: String, defaults: true });
    const keys: unknown = view.keys;
    if (!Array.isArray(keys)) return [];
    return keys.filter((key): key is Uint8Array => key instanceof Uint8Array).map((key) => Buffer.from(key));
  };
}

/** Every lease ID etcd holds. */
export function leaseIdsFrom(upstream: EtcdUpstream): () => Promise<string[]> {
  return async () => {
    const root = etcdProtoRoot();
    const request = root.lookupType('etcdserverpb.LeaseLeasesRequest');
    const response = root.lookupType('etcdserverpb.LeaseLeasesResponse');
    const answer = await upstream.unary(leasesPath, request.encode({}).finish());
    const view = response.toObject(response.decode(answer), { longs: String, defaults: true });
    return repeatedMessages(view, 'leases').map((status) => int64Field(status, 'ID'));
  };
}

/** Answers a decision's `lookup` (see decide.ts). */
export type LeaseLookup = (lookup: { readonly leases: readonly string[]; readonly everyLease: boolean }) => Promise<AttachedKeys>;

/** The lookup on the proxy's connection to etcd. Any failure to ask etcd fails the request closed. */
export function leaseLookupOn(upstream: EtcdUpstream): LeaseLookup {
  const keysOf = leaseKeysFrom(upstream);
  const allLeases = leaseIdsFrom(upstream);
  return (lookup) => lookUpAttachedKeys(lookup, keysOf, allLeases);
}

/** Answers a decision's `lookup`. */
export async function lookUpAttachedKeys(
  lookup: { readonly leases: readonly string[]; readonly everyLease: boolean },
  keysOf: LeaseKeySource,
  allLeases: () => Promise<string[]>,
): Promise<AttachedKeys> {
  const byLease = new Map<string, readonly Buffer[]>();
  for (const lease of lookup.leases) byLease.set(lease, await keysOf(lease));
  let everyLease: Buffer[] | undefined;
  if (lookup.everyLease) {
    everyLease = [];
    for (const lease of await allLeases()) everyLease.push(...(await keysOf(lease)));
  }
  return { byLease, everyLease };
}
