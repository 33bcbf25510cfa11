// Source key → destination key, etcdmirror's mapping on the shared prefix
// rules (mirror/etcd/keys.ts): anchored and segment-aware, so "/conf" does
// not cover "/conftool" and "/a" is never cut out of the middle of "/b/a".
import { joinKey, relativeToPrefix } from './etcd/keys.js';

export interface KeyMapping {
  readonly srcPrefix: string;
  readonly dstPrefix: string;
  readonly strip: boolean;
}

/**
 * etcdmirror's mapping: without --strip the whole source key goes under the
 * destination prefix; with --strip the source prefix is removed first.
 * Returns undefined for keys outside the source prefix.
 */
export function destinationKey(key: string, mapping: KeyMapping): string | undefined {
  const relative = relativeToPrefix(key, mapping.srcPrefix);
  if (relative === undefined) return undefined;
  return joinKey(mapping.dstPrefix, mapping.strip ? relative : key === '/' ? '' : key);
}

/** The destination node that mirrors the source prefix itself. */
export function destinationRoot(mapping: KeyMapping): string {
  return destinationKey(mapping.srcPrefix, mapping) ?? mapping.dstPrefix;
}
