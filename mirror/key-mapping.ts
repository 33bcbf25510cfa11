// Source key → destination key. Prefix tests are anchored and segment-aware:
// "/conf" does not cover "/conftool" (etcd's make-mirror and etcdmirror use an
// unanchored replace, which is how "/a" can be cut out of "/b/a").

/** True when `key` is `prefix` or lies below it. */
export function isUnderPrefix(key: string, prefix: string): boolean {
  return prefix === '/' || key === prefix || key.startsWith(prefix + '/');
}

/** Path of `key` relative to `prefix`: "" for the prefix itself, else "/a/b". */
export function relativeToPrefix(key: string, prefix: string): string | undefined {
  if (!isUnderPrefix(key, prefix)) return undefined;
  return prefix === '/' ? (key === '/' ? '' : key) : key.slice(prefix.length);
}

export function joinKey(prefix: string, relative: string): string {
  if (prefix === '/') return relative === '' ? '/' : relative;
  return prefix + relative;
}

/**
 * Hidden-key rule (one rule for watch, history replay and snapshot): a key
 * with any "_"-prefixed segment below the source prefix is not replicated.
 * Live watches and recursive listings already leave such keys out, but a
 * watch replaying history delivers them; filtering them everywhere keeps the
 * replica equal to what a snapshot would produce.
 */
export function isHiddenBelow(key: string, srcPrefix: string): boolean {
  const relative = relativeToPrefix(key, srcPrefix);
  if (relative === undefined) return false;
  return relative.split('/').some((segment) => segment.startsWith('_'));
}

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
