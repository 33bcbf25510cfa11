// The v2 ACL map (`acls`, `readAcls`: key prefix -> users) as byte intervals
// over etcd's v3 keyspace, so a request range is judged on every key it can
// touch. A rule for /conftool covers the key /conftool and every key under
// /conftool/, never /conftoolx; the longest covering rule decides each key,
// so a stricter rule deeper down governs its own keys inside any range that
// reaches them. The rule "/" covers the whole keyspace, keys without a
// leading "/" included: a `readAcls: {"/": [root]}` must not leave "foo"
// readable by anyone.
//
// Pure: no I/O. Compiled once per config; lookups are a binary search plus
// a walk over the intervals the range crosses.
import { keySuccessor, prefixRangeEnd, type KeyRange } from '../../mirror/etcd/v3/key-range.js';
import { compileAcl, type AclRule } from '../acl.js';

/**
 * The keyspace cut into consecutive intervals: interval i is
 * [boundaries[i], boundaries[i+1]) (the last one unbounded), governed by
 * rules[i], or by no rule.
 */
export interface KeyAcl {
  readonly boundaries: readonly Buffer[];
  readonly rules: readonly (AclRule | undefined)[];
  readonly allRules: readonly AclRule[];
}

/** The v3 caller: `anonymous` sent no token and no credentials. */
export type KeyIdentity = { readonly kind: 'anonymous' } | { readonly kind: 'user'; readonly user: string };

/** The intervals one rule covers: the key itself, and the keys under it. */
function ruleIntervals(prefix: string): KeyRange[] {
  if (prefix === '/') return [{ start: Buffer.alloc(0), end: null }];
  const key = Buffer.from(prefix, 'utf8');
  const below = Buffer.concat([key, Buffer.from('/')]);
  return [
    { start: key, end: keySuccessor(key) },
    { start: below, end: prefixRangeEnd(below) },
  ];
}

function inside(range: KeyRange, key: Buffer): boolean {
  return Buffer.compare(range.start, key) <= 0 && (range.end === null || Buffer.compare(key, range.end) < 0);
}

export function compileKeyAcl(map: Readonly<Record<string, readonly string[]>>): KeyAcl {
  // The same rules as v2's, longest prefix first: the first rule covering a key governs it.
  const allRules = compileAcl(map).rules;
  const covering = allRules.map((rule) => ({ rule, intervals: ruleIntervals(rule.prefix) }));

  const cuts: Buffer[] = [Buffer.alloc(0)];
  for (const { intervals } of covering) {
    for (const interval of intervals) {
      cuts.push(interval.start);
      if (interval.end !== null) cuts.push(interval.end);
    }
  }
  cuts.sort(Buffer.compare);
  const boundaries = cuts.filter((cut, i) => i === 0 || !cut.equals(cuts[i - 1] ?? cut));
  // Coverage changes only at a boundary, so an interval's first key speaks for all of it.
  const rules = boundaries.map((start) => covering.find(({ intervals }) => intervals.some((interval) => inside(interval, start)))?.rule);
  return { boundaries, rules, allRules };
}

/** Index of the interval holding `key`: the last boundary <= key. */
function intervalOf(acl: KeyAcl, key: Buffer): number {
  let low = 0;
  let high = acl.boundaries.length - 1;
  while (low < high) {
    const middle = (low + high + 1) >> 1;
    const boundary = acl.boundaries[middle];
    if (boundary !== undefined && Buffer.compare(boundary, key) <= 0) low = middle;
    else high = middle - 1;
  }
  return low;
}

/** Every rule slot (undefined = no rule) governing some key of the range. */
export function rulesCrossed(acl: KeyAcl, range: KeyRange): (AclRule | undefined)[] {
  const first = intervalOf(acl, range.start);
  const crossed: (AclRule | undefined)[] = [acl.rules[first]];
  for (let i = first + 1; i < acl.boundaries.length; i++) {
    const start = acl.boundaries[i];
    if (start === undefined || (range.end !== null && Buffer.compare(start, range.end) >= 0)) break;
    crossed.push(acl.rules[i]);
  }
  return crossed;
}

export function ruleAdmits(rule: AclRule, identity: KeyIdentity): boolean {
  return rule.users.kind === 'anyone' || (identity.kind === 'user' && rule.users.users.has(identity.user));
}

/**
 * Write ACLs: every key of the range needs a rule that admits the caller;
 * a key no rule covers is writable by no one (as v2).
 */
export function mayWrite(acl: KeyAcl, range: KeyRange, identity: KeyIdentity): boolean {
  return rulesCrossed(acl, range).every((rule) => rule !== undefined && ruleAdmits(rule, identity));
}

/** Read ACLs: reads are anonymous where no read rule covers the key (as v2). */
export function mayRead(acl: KeyAcl, range: KeyRange, identity: KeyIdentity): boolean {
  return rulesCrossed(acl, range).every((rule) => rule === undefined || ruleAdmits(rule, identity));
}

/** Whether some key exists that the caller may write (granting a lease is pointless otherwise). */
export function mayWriteSomewhere(acl: KeyAcl, identity: KeyIdentity): boolean {
  return acl.allRules.some((rule) => ruleAdmits(rule, identity));
}
