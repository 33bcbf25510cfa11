// Source key → destination key for v3 keys (bytes), with the v2 mirror's
// flags and rules: prefixes are paths matched on segment boundaries
// (covers: "/conf" never covers "/conftool"), --strip drops the
// source prefix, --dst-prefix goes in front. etcd's make-mirror rewrites
// with strings.Replace(key, prefix, dest, 1), an unanchored replace.
//
// v3 keys need not start with "/": the mirror covers path keys only, so the
// root prefix "/" means "every key that starts with /". That also keeps the
// mirror's own record (`__etcd_warden/…`) out of every mirrored range.
//
// The mapping is "destination root + the key's path below the source
// prefix", so it is injective on bytes: v3 holds "/a" and "/a/" as two keys,
// which the v2 helpers (made for v2's cleaned paths) would fold into one.
import { covers } from '../etcd/keys.js';
import type { KeyMapping } from '../key-mapping.js';
import { keyFromText, keyText, prefixInterval, singleKey, type KeyBytes, type KeyInterval } from '../etcd/v3/keys.js';

export interface KeySpace {
  readonly mapping: KeyMapping;
  /** The source prefix as bytes, "" for "/". */
  readonly sourceBase: KeyBytes;
  /** Destination keys are this + the source key's path below the prefix ("" for the root). */
  readonly destinationBase: KeyBytes;
  /** Source keys (as text) the operator excluded with --src-ignore-keys-regex. */
  readonly ignore: RegExp | undefined;
}

export function keySpace(mapping: KeyMapping, ignore: RegExp | undefined): KeySpace {
  const base = (prefix: string): KeyBytes => (prefix === '/' ? '' : keyFromText(prefix)) as KeyBytes;
  const sourceBase = base(mapping.srcPrefix);
  return { mapping, sourceBase, destinationBase: (base(mapping.dstPrefix) + (mapping.strip ? '' : sourceBase)) as KeyBytes, ignore };
}

/** True when `key` is `base` or below it; base "" holds every key starting with "/". */
export function isBelowBase(key: KeyBytes, base: KeyBytes): boolean {
  if (base === '') return key.startsWith('/');
  return covers(base, key);
}

/** The key's path below the source prefix ("" for the prefix itself), or undefined outside it. */
export function sourcePath(space: KeySpace, key: KeyBytes): KeyBytes | undefined {
  return isBelowBase(key, space.sourceBase) ? (key.slice(space.sourceBase.length) as KeyBytes) : undefined;
}

export function destinationPath(space: KeySpace, key: KeyBytes): KeyBytes | undefined {
  return isBelowBase(key, space.destinationBase) ? (key.slice(space.destinationBase.length) as KeyBytes) : undefined;
}

export class UnmappableKeyError extends Error {
  readonly code = 'ETCD_WARDEN_UNMAPPABLE_KEY';
  constructor(readonly key: string) {
    super(`source key ${JSON.stringify(key)} would map to the empty key with --strip and --dst-prefix /: use another --dst-prefix or no --strip`);
  }
}

/** The destination key for a path below the source prefix. */
export function destinationKeyFor(space: KeySpace, path: KeyBytes): KeyBytes {
  const key = (space.destinationBase + path) as KeyBytes;
  if (key === '') throw new UnmappableKeyError(keyText((space.sourceBase + path) as KeyBytes));
  return key;
}

/** The source key a path stands for, as text: what --src-ignore-keys-regex is tested on. */
export function sourceKeyText(space: KeySpace, path: KeyBytes): string {
  return keyText((space.sourceBase + path) as KeyBytes);
}

export function isIgnoredPath(space: KeySpace, path: KeyBytes): boolean {
  return space.ignore !== undefined && space.ignore.test(sourceKeyText(space, path));
}

/**
 * One interval holding everything below `base` (and, for a non-root base,
 * siblings such as "/conftool-x" that callers filter out with isBelowBase):
 * [base, base + "0"), "0" being the byte after "/". One watcher on it sees
 * every revision of the prefix in order.
 */
export function coveringInterval(base: KeyBytes): KeyInterval {
  if (base === '') return { start: '/' as KeyBytes, end: '0' as KeyBytes };
  return { start: base, end: (base + '0') as KeyBytes };
}

/** Exactly the keys below `base`: the key itself and base + "/…". */
export function exactIntervals(base: KeyBytes): KeyInterval[] {
  if (base === '') return [coveringInterval(base)];
  return [singleKey(base), prefixInterval((base + '/') as KeyBytes)];
}

/**
 * Where the mirror records the source revision it has applied, in the
 * destination, written in the same Txn as the keys:
 * `__etcd_warden/replication<dst-prefix>` (SPEC §5). Outside every "/" key,
 * so no mirrored range ever holds it.
 */
export function revisionRecordKey(dstPrefix: string): KeyBytes {
  return keyFromText(`__etcd_warden/replication${dstPrefix}`);
}

/**
 * The v2 → v3 migration records the v2 index under its own name: a v2 index
 * and a v3 revision are different counters, and a destination fed first by
 * the migration and later by a v3 mirror must not read one as the other.
 */
export function v2IndexRecordKey(dstPrefix: string): KeyBytes {
  return keyFromText(`__etcd_warden/replication-v2${dstPrefix}`);
}
