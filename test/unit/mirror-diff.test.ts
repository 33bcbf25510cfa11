import { describe, expect, it } from 'vitest';
import { diff, flatten, type FlatNode } from '../../mirror/resync.js';

const tree = (entries: Record<string, string | null>): Map<string, FlatNode> =>
  new Map(Object.entries(entries).map(([path, value]) => [path, value === null ? { dir: true } : { dir: false, value }]));

interface DiffCase {
  name: string;
  source: Record<string, string | null>;
  dest: Record<string, string | null>;
  ops: unknown[];
}

describe('diff(source, dest)', () => {
  it.each<DiffCase>([
    { name: 'equal trees need nothing', source: { '/a': '1', '/d': null, '/d/x': '2' }, dest: { '/a': '1', '/d': null, '/d/x': '2' }, ops: [] },
    { name: 'missing keys are created; their parent dir is implied', source: { '/d': null, '/d/x': '1' }, dest: {}, ops: [{ op: 'put', path: '/d/x', value: '1' }] },
    { name: 'an empty dir is created explicitly', source: { '/e': null }, dest: {}, ops: [{ op: 'mkdir', path: '/e' }] },
    { name: 'changed values are updated', source: { '/a': '2' }, dest: { '/a': '1' }, ops: [{ op: 'put', path: '/a', value: '2' }] },
    {
      name: 'extra keys are deleted last, outermost only',
      source: { '/a': '1' },
      dest: { '/a': '1', '/old': null, '/old/x': '1', '/z': '9' },
      ops: [
        { op: 'delete', path: '/old', recursive: true },
        { op: 'delete', path: '/z', recursive: false },
      ],
    },
    {
      name: 'a file that became a dir is deleted first, then the children written',
      source: { '/k': null, '/k/c': '1' },
      dest: { '/k': 'file' },
      ops: [
        { op: 'delete', path: '/k', recursive: false },
        { op: 'put', path: '/k/c', value: '1' },
      ],
    },
    {
      name: 'a dir that became a file is deleted recursively before the write',
      source: { '/k': 'file' },
      dest: { '/k': null, '/k/c': '1' },
      ops: [
        { op: 'delete', path: '/k', recursive: true },
        { op: 'put', path: '/k', value: 'file' },
      ],
    },
    {
      name: 'nothing is wiped: unchanged keys are left alone among changes',
      source: { '/a': '1', '/b': '2', '/c': '3' },
      dest: { '/a': '1', '/b': 'old', '/d': '4' },
      ops: [
        { op: 'put', path: '/b', value: '2' },
        { op: 'put', path: '/c', value: '3' },
        { op: 'delete', path: '/d', recursive: false },
      ],
    },
  ])('$name', ({ source, dest, ops }) => {
    expect(diff(tree(source), tree(dest))).toEqual(ops);
  });
});

describe('flatten', () => {
  it('flattens a recursive listing relative to its root, leaving out hidden and excluded paths', () => {
    const root = {
      key: '/p',
      dir: true,
      modifiedIndex: 1,
      createdIndex: 1,
      nodes: [
        { key: '/p/a', value: '1', modifiedIndex: 2, createdIndex: 2 },
        { key: '/p/_h', value: 'h', modifiedIndex: 3, createdIndex: 3 },
        { key: '/p/skip', value: 's', modifiedIndex: 4, createdIndex: 4 },
        { key: '/p/d', dir: true, modifiedIndex: 5, createdIndex: 5, nodes: [{ key: '/p/d/x', value: '2', modifiedIndex: 6, createdIndex: 6 }] },
      ],
    };
    const flat = flatten(root, '/p', (relative) => relative === '/skip');
    expect([...flat.entries()]).toEqual([
      ['/a', { dir: false, value: '1' }],
      ['/d', { dir: true }],
      ['/d/x', { dir: false, value: '2' }],
    ]);
  });
});
