import { describe, expect, it } from 'vitest';
import { intervalsOverlap, keyFromText, keyText, prefixInterval, singleKey, type KeyBytes } from '../../mirror/etcd/v3/keys.js';
import { coveringInterval, destinationKeyFor, destinationPath, exactIntervals, isIgnoredPath, keySpace, revisionRecordKey, sourcePath, UnmappableKeyError, v2IndexRecordKey } from '../../mirror/v3/keyspace.js';

const k = keyFromText;

function mapKey(srcPrefix: string, dstPrefix: string, strip: boolean, key: string): string | undefined {
  const space = keySpace({ srcPrefix, dstPrefix, strip }, undefined);
  const path = sourcePath(space, k(key));
  return path === undefined ? undefined : keyText(destinationKeyFor(space, path));
}

describe('v3 key mapping', () => {
  it.each([
    // [srcPrefix, dstPrefix, strip, source key, destination key]
    ['/conftool', '/replica', false, '/conftool/a', '/replica/conftool/a'],
    ['/conftool', '/replica', true, '/conftool/a', '/replica/a'],
    ['/conftool', '/replica', true, '/conftool', '/replica'],
    ['/conftool', '/', true, '/conftool/a/b', '/a/b'],
    ['/conftool', '/', false, '/conftool/a', '/conftool/a'],
    ['/', '/replica', false, '/x', '/replica/x'],
    ['/', '/replica', true, '/x', '/replica/x'],
    ['/', '/', true, '/x', '/x'],
    ['/conftool', '/conftool', true, '/conftool/x', '/conftool/x'],
    // a prefix is a path, not a string: "/conf" does not cover "/conftool"
    ['/conf', '/replica', true, '/conftool/a', undefined],
    ['/conftool', '/replica', true, '/conftool-x', undefined],
    // an unanchored replace would cut "/a" out of the middle of the key
    ['/a', '/r', true, '/a/b/a/c', '/r/b/a/c'],
    // v3 keys need not be paths: only "/" keys are under the root prefix
    ['/', '/replica', false, 'foo', undefined],
    ['/', '/replica', false, '__etcd_warden/replication/replica', undefined],
    // bytes, not cleaned paths: "/a/" and "/a" stay two keys
    ['/conftool', '/r', true, '/conftool/a/', '/r/a/'],
    ['/conftool', '/r', true, '/conftool//a', '/r//a'],
    ['/conftool', '/r', true, '/conftool/ключ', '/r/ключ'],
  ] as const)('%s → %s (strip %s): %s maps to %s', (srcPrefix, dstPrefix, strip, key, expected) => {
    expect(mapKey(srcPrefix, dstPrefix, strip, key)).toBe(expected);
  });

  it('refuses the one key that would map to the empty key (the prefix itself, --strip, --dst-prefix /)', () => {
    expect(() => mapKey('/conftool', '/', true, '/conftool')).toThrow(UnmappableKeyError);
  });

  it('maps every destination key back to the path it came from', () => {
    const space = keySpace({ srcPrefix: '/conftool', dstPrefix: '/replica', strip: false }, undefined);
    expect(destinationPath(space, k('/replica/conftool/a'))).toBe('/a');
    expect(destinationPath(space, k('/replica/conftool'))).toBe('');
    expect(destinationPath(space, k('/replica/conftoolx'))).toBeUndefined();
  });

  it('tests --src-ignore-keys-regex on the source key as text', () => {
    const space = keySpace({ srcPrefix: '/conftool', dstPrefix: '/', strip: true }, /^\/conftool\/locks\//);
    expect(isIgnoredPath(space, k('/locks/a'))).toBe(true);
    expect(isIgnoredPath(space, k('/pools/a'))).toBe(false);
  });
});

describe('v3 key intervals', () => {
  it('covers a prefix from the key itself to just before "prefix0" (the byte after "/")', () => {
    expect(coveringInterval(k('/conftool'))).toEqual({ start: '/conftool', end: '/conftool0' });
    expect(coveringInterval('' as KeyBytes)).toEqual({ start: '/', end: '0' });
  });

  it('reads exactly the prefix key and the keys below it, without siblings', () => {
    expect(exactIntervals(k('/conftool'))).toEqual([singleKey(k('/conftool')), { start: '/conftool/', end: '/conftool0' }]);
  });

  it('computes etcd prefix range ends, carrying over 0xff bytes', () => {
    expect(prefixInterval(k('/a/'))).toEqual({ start: '/a/', end: '/a0' });
    expect(prefixInterval('a\u00ff' as KeyBytes)).toEqual({ start: 'a\u00ff', end: 'b' });
    expect(prefixInterval('\u00ff' as KeyBytes).end).toBe('');
  });

  it('tells overlapping intervals apart, "" ending at infinity', () => {
    expect(intervalsOverlap(singleKey(k('/a')), prefixInterval(k('/a/')))).toBe(false);
    expect(intervalsOverlap(singleKey(k('/a/b')), prefixInterval(k('/a/')))).toBe(true);
    expect(intervalsOverlap({ start: k('/z'), end: '' as KeyBytes }, singleKey(k('/zz')))).toBe(true);
  });

  it('records outside every "/" key, the v2 index under its own name', () => {
    expect(keyText(revisionRecordKey('/replica'))).toBe('__etcd_warden/replication/replica');
    expect(keyText(revisionRecordKey('/'))).toBe('__etcd_warden/replication/');
    expect(keyText(v2IndexRecordKey('/conftool'))).toBe('__etcd_warden/replication-v2/conftool');
  });
});
