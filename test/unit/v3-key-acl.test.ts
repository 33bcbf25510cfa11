import { describe, expect, it } from 'vitest';
import { keyRange, prefixRangeEnd, watchKeyRange, type KeyRange } from '../../mirror/etcd/v3/key-range.js';
import { compileKeyAcl, mayRead, mayWrite, mayWriteSomewhere, type KeyIdentity } from '../../proxy/v3/key-acl.js';

const b = (text: string): Buffer => Buffer.from(text, 'latin1');
const zero = b('\0');
const conftool: KeyIdentity = { kind: 'user', user: 'conftool' };
const root: KeyIdentity = { kind: 'user', user: 'root' };
const anonymous: KeyIdentity = { kind: 'anonymous' };

describe('range_end normalisation', () => {
  it.each<[string, string, string, KeyRange]>([
    ['empty range_end is the key alone', 'a', '', { start: b('a'), end: b('a\0') }],
    ['"\\0" is every key from the key on', 'a', '\0', { start: b('a'), end: null }],
    ['key + 1 is the prefix', '/x/', '/x0', { start: b('/x/'), end: b('/x0') }],
    ['"\\0" and "\\0" is the whole keyspace', '\0', '\0', { start: zero, end: null }],
    ['an inverted range counts as the key alone', 'b', 'a', { start: b('b'), end: b('b\0') }],
    ['range_end equal to the key counts as the key alone', 'b', 'b', { start: b('b'), end: b('b\0') }],
    ['"\\0\\0" is an ordinary end, not "every key"', 'a', '\0\0', { start: b('a'), end: b('a\0') }],
  ])('%s', (_name, key, rangeEnd, expected) => {
    expect(keyRange(b(key), b(rangeEnd))).toEqual(expected);
  });

  it('a watch on the empty key watches "\\0", as etcd rewrites it', () => {
    expect(watchKeyRange(b(''), b('\0'))).toEqual({ start: zero, end: null });
    expect(watchKeyRange(b(''), b(''))).toEqual({ start: zero, end: b('\0\0') });
  });

  it.each([
    ['/a', '/b'],
    ['a\xff', 'b'],
    ['\xff\xff', '\0'],
    ['', '\0'],
  ])('the prefix range end of %j is %j', (prefix, end) => {
    expect(prefixRangeEnd(b(prefix))).toEqual(b(end));
  });
});

describe('write ACLs as byte intervals', () => {
  const acl = compileKeyAcl({ '/': ['root'], '/conftool': ['root', 'conftool'], '/conftool/locked': ['root'], '/eventlogging': [] });
  const single = (key: string): KeyRange => keyRange(b(key), b(''));
  const prefix = (key: string): KeyRange => keyRange(b(key), prefixRangeEnd(b(key)));

  it.each<[string, KeyRange, KeyIdentity, boolean]>([
    ['a rule covers its own key', single('/conftool'), conftool, true],
    ['a rule covers keys under it', single('/conftool/pools/a'), conftool, true],
    ['a rule never covers the key next door (/conftoolx)', single('/conftoolx'), conftool, false],
    ['a rule never covers /conftool0 (the byte after "/")', single('/conftool0'), conftool, false],
    ['a rule never covers /conftool.x (a byte below "/")', single('/conftool.x'), conftool, false],
    ['the prefix /conftool/ stays inside', prefix('/conftool/'), conftool, false],
    ['the prefix /conftool/pools/ stays inside', prefix('/conftool/pools/'), conftool, true],
    ['the string prefix /conftool reaches /conftoolx', prefix('/conftool'), conftool, false],
    ['a range that starts inside and ends outside', keyRange(b('/conftool/a'), b('/conftoolz')), conftool, false],
    ['"\\0" from a writable key reaches everything after it', keyRange(b('/conftool/a'), zero), conftool, false],
    ['a stricter rule inside the range applies', keyRange(b('/conftool/a'), b('/conftool/z')), conftool, false],
    ['the stricter rule itself', single('/conftool/locked'), conftool, false],
    ['next to the stricter rule', single('/conftool/lockedx'), conftool, true],
    ['a range up to the stricter rule, excluded', keyRange(b('/conftool/a'), b('/conftool/locked')), conftool, true],
    ['an open rule lets anyone write', single('/eventlogging/x'), anonymous, true],
    ['anonymous elsewhere', single('/conftool/x'), anonymous, false],
    ['the root rule covers keys without a leading slash', single('foo'), root, true],
    ['root may write everything', keyRange(zero, zero), root, true],
    ['conftool may not write keys without a leading slash', single('foo'), conftool, false],
  ])('%s', (_name, range, identity, allowed) => {
    expect(mayWrite(acl, range, identity)).toBe(allowed);
  });

  it('keys no write rule covers are writable by no one', () => {
    const narrow = compileKeyAcl({ '/conftool': ['conftool'] });
    expect(mayWrite(narrow, single('/other'), conftool)).toBe(false);
    expect(mayWrite(narrow, single('/conftool/x'), conftool)).toBe(true);
    expect(mayWrite(narrow, keyRange(b('/conftool'), b('/conftool0')), conftool)).toBe(false);
  });

  it('an anonymous caller may write somewhere only when some rule is open', () => {
    expect(mayWriteSomewhere(acl, anonymous)).toBe(true);
    expect(mayWriteSomewhere(compileKeyAcl({ '/': ['root'] }), anonymous)).toBe(false);
    expect(mayWriteSomewhere(compileKeyAcl({ '/': ['root'] }), conftool)).toBe(false);
  });
});

describe('read ACLs as byte intervals', () => {
  const acl = compileKeyAcl({ '/secret': ['root'], '/secret/shared': [] });

  it.each<[string, KeyRange, KeyIdentity, boolean]>([
    ['keys no read rule covers are readable by anyone', keyRange(b('/public/x'), b('')), anonymous, true],
    ['a covered key needs a listed user', keyRange(b('/secret/x'), b('')), anonymous, false],
    ['the listed user reads it', keyRange(b('/secret/x'), b('')), root, true],
    ['/secretx is not under /secret', keyRange(b('/secretx'), b('')), anonymous, true],
    ['a range crossing /secret needs the user', keyRange(b('/a'), b('/z')), anonymous, false],
    ['"\\0" after a readable key reaches /secret', keyRange(b('/public'), zero), anonymous, false],
    ['an open rule inside a closed one', keyRange(b('/secret/shared/x'), b('')), anonymous, true],
  ])('%s', (_name, range, identity, allowed) => {
    expect(mayRead(acl, range, identity)).toBe(allowed);
  });
});
