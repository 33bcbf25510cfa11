// mirror-verify's differences are the resync diff told for an operator.
import { describe, expect, it } from 'vitest';
import type { FlatNode } from '../../mirror/resync.js';
import { describeDifference, differences } from '../../mirror/verify-differences.js';

const tree = (entries: Record<string, string | null>): Map<string, FlatNode> =>
  new Map(Object.entries(entries).map(([path, value]) => [path, value === null ? { dir: true } : { dir: false, value }]));

describe('differences', () => {
  it('finds nothing between equal trees', () => {
    expect(differences(tree({ '/a': null, '/a/b': '1' }), tree({ '/a': null, '/a/b': '1' }))).toEqual([]);
  });

  it('tells missing, changed, extra (outermost, with a count) and type changes apart, sorted by path', () => {
    const source = tree({ '/a': null, '/a/b': '1', '/a/c': '2', '/d': 'file', '/e': null });
    const replica = tree({ '/a': null, '/a/b': 'changed', '/d': null, '/d/x': '9', '/z': null, '/z/1': '1', '/z/2': '2' });
    expect(differences(source, replica)).toEqual([
      { kind: 'missing', path: '/a/c', source: { dir: false, value: '2' } },
      { kind: 'value', path: '/a/b', source: '1', replica: 'changed' },
      { kind: 'type', path: '/d', source: { dir: false, value: 'file' }, replica: { dir: true } },
      { kind: 'missing', path: '/e', source: { dir: true } },
      { kind: 'extra', path: '/z', replica: { dir: true }, below: 2 },
    ].sort((a, b) => (a.path < b.path ? -1 : 1)));
  });

  it('reports the keys below a missing directory, not the directory itself', () => {
    expect(differences(tree({ '/a': null, '/a/b': '1' }), tree({}))).toEqual([{ kind: 'missing', path: '/a/b', source: { dir: false, value: '1' } }]);
  });

  it('describes each side with its own full key', () => {
    const line = describeDifference({ kind: 'value', path: '/x', source: 'a', replica: 'b' }, (p) => `/conftool${p}`, (p) => `/replica/conftool${p}`);
    expect(line).toBe('value    /replica/conftool/x: the source holds "a", the replica "b"');
  });
});
