// etcd key and prefix rules, one copy for the proxy, the mirror and config/:
// prefixes cover keys on path-segment boundaries ("/conftool" never covers
// "/conftoolx": http-proxy-middleware's string prefix and etcdmirror's
// unanchored replace are the anti-examples), keys are cleaned as Go's
// path.Clean does, and a "_" segment hides a key.

/**
 * Go's path.Clean, which etcd applies to every key: collapses `//`, removes
 * `.` segments, resolves `..` (never above the root), drops a trailing slash.
 * Operates on decoded paths that start with `/`.
 */
export function cleanPath(path: string): string {
  const out: string[] = [];
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      out.pop();
      continue;
    }
    out.push(segment);
  }
  return '/' + out.join('/');
}

/**
 * A prefix as an operator may type it (`/conftool/`, `/a//b`) in its one
 * canonical form: absolute, no empty segments, no trailing slash, the root
 * stays "/". Dot segments are refused rather than resolved: a prefix that
 * climbs out of itself is a mistake, not a spelling.
 */
export function normalizePrefix(prefix: string): string | undefined {
  if (!prefix.startsWith('/')) return undefined;
  if (prefix.split('/').some((segment) => segment === '.' || segment === '..')) return undefined;
  return cleanPath(prefix);
}

/** True when `key` is `prefix` itself or lies below it. */
export function covers(prefix: string, key: string): boolean {
  return prefix === '/' || key === prefix || key.startsWith(prefix + '/');
}

/** Path of `key` relative to `prefix`: "" for the prefix itself, else "/a/b"; undefined outside it. */
export function relativeToPrefix(key: string, prefix: string): string | undefined {
  if (!covers(prefix, key)) return undefined;
  return prefix === '/' ? (key === '/' ? '' : key) : key.slice(prefix.length);
}

/** The inverse of relativeToPrefix. */
export function joinKey(prefix: string, relative: string): string {
  if (prefix === '/') return relative === '' ? '/' : relative;
  return prefix + relative;
}

/**
 * etcd's hidden keys: any segment starting with "_". Listings and live
 * watches leave them out, but a watch replaying history delivers them.
 */
export function isHiddenPath(path: string): boolean {
  return path.split('/').some((segment) => segment.startsWith('_'));
}

/** Hidden below `prefix` (the prefix's own segments do not count: "/_prefix/a" under "/_prefix" is visible). */
export function isHiddenBelow(key: string, prefix: string): boolean {
  const relative = relativeToPrefix(key, prefix);
  return relative !== undefined && isHiddenPath(relative);
}
