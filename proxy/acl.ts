// Per-prefix ACLs on path-segment boundaries: `/conftool` covers `/conftool`
// and `/conftool/x`, never `/conftoolx` (the string-prefix match of
// http-proxy-middleware is the anti-example).
import { covers } from '../mirror/etcd/keys.js';

/** `anyone` is an empty user list in the config: no authentication needed. */
export type AclUsers = { readonly kind: 'anyone' } | { readonly kind: 'users'; readonly users: ReadonlySet<string> };

export interface AclRule {
  /** Canonical key prefix: starts with `/`, no trailing slash except for the root. */
  readonly prefix: string;
  readonly users: AclUsers;
}

/** Rules sorted longest prefix first, so the first covering rule is the most specific. */
export interface Acl {
  readonly rules: readonly AclRule[];
}

export function compileAcl(map: Readonly<Record<string, readonly string[]>>): Acl {
  const rules = Object.entries(map).map(([prefix, users]): AclRule => ({
    prefix,
    users: users.length === 0 ? { kind: 'anyone' } : { kind: 'users', users: new Set(users) },
  }));
  rules.sort((a, b) => b.prefix.length - a.prefix.length);
  return { rules };
}

export function aclFor(acl: Acl, key: string): AclRule | undefined {
  return acl.rules.find((rule) => covers(rule.prefix, key));
}

/** Rules strictly inside the subtree rooted at `key`. */
export function rulesBelow(acl: Acl, key: string): AclRule[] {
  return acl.rules.filter((rule) => rule.prefix !== key && covers(key, rule.prefix));
}

/** Who may act on a key, once every rule that the action can touch is taken into account. */
export type AccessRequirement =
  | { readonly kind: 'open' }
  | { readonly kind: 'no-rule' }
  | { readonly kind: 'users'; readonly allowed: readonly ReadonlySet<string>[]; readonly prefixes: readonly string[] };

/**
 * A write on K can destroy everything below K (recursive delete, a TTL on a
 * directory), so it needs the permission of K's own rule and of every rule
 * below K. Reads use the same rule when read ACLs are configured, because a
 * recursive GET or watch on K returns the whole subtree; a key no read rule
 * covers is readable by anyone (`whenUncovered: 'open'`), a key no write rule
 * covers by no one.
 */
export function subtreeRequirement(acl: Acl, key: string, whenUncovered: 'open' | 'no-rule'): AccessRequirement {
  const governing = aclFor(acl, key);
  if (governing === undefined && whenUncovered === 'no-rule') return { kind: 'no-rule' };
  const relevant = [...(governing === undefined ? [] : [governing]), ...rulesBelow(acl, key)];
  const restricted = relevant.flatMap((rule) => (rule.users.kind === 'users' ? [{ prefix: rule.prefix, users: rule.users.users }] : []));
  if (restricted.length === 0) return { kind: 'open' };
  return { kind: 'users', allowed: restricted.map((r) => r.users), prefixes: restricted.map((r) => r.prefix) };
}

export function userSatisfies(requirement: { readonly allowed: readonly ReadonlySet<string>[] }, user: string): boolean {
  return requirement.allowed.every((users) => users.has(user));
}
