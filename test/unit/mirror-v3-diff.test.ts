import { describe, expect, it } from 'vitest';
import { keyFromText, keyText, type KeyBytes } from '../../mirror/etcd/v3/keys.js';
import { diffKeyspaces, resyncTxns, type DestinationKeys } from '../../mirror/v3/resync.js';
import { keyspaceDifferences } from '../../mirror/v3/verify.js';

const k = keyFromText;
const source = (entries: Record<string, string>): Map<KeyBytes, Buffer> => new Map(Object.entries(entries).map(([path, value]) => [k(path), Buffer.from(value)]));
const destination = (entries: Record<string, [string, number]>): DestinationKeys =>
  new Map(Object.entries(entries).map(([path, [value, modRevision]]) => [k(path), { value: Buffer.from(value), modRevision }]));

describe('diffKeyspaces (resync: only the differences)', () => {
  it.each<[string, Record<string, string>, Record<string, [string, number]>, string[], number]>([
    ['equal keyspaces need nothing', { '/a': '1', '/b': '2' }, { '/a': ['1', 5], '/b': ['2', 6] }, [], 2],
    ['a missing key is put, guarded by "still absent"', { '/a': '1' }, {}, ['put /a=1 if absent'], 0],
    ['a changed value is put, guarded by the mod_revision read', { '/a': '2' }, { '/a': ['1', 5] }, ['put /a=2 if mod 5'], 0],
    ['an extra key is deleted, guarded by the mod_revision read', {}, { '/x': ['1', 9] }, ['delete /x if mod 9'], 0],
    ['nothing is wiped: unchanged keys are left alone', { '/a': '1', '/b': 'new' }, { '/a': ['1', 5], '/b': ['old', 6], '/c': ['gone', 7] }, ['put /b=new if mod 6', 'delete /c if mod 7'], 1],
    ['an empty value is a value', { '/a': '' }, { '/a': ['x', 3] }, ['put /a= if mod 3'], 0],
  ])('%s', (_name, want, have, writes, unchanged) => {
    const diff = diffKeyspaces(source(want), destination(have));
    expect(diff.unchanged).toBe(unchanged);
    expect(
      diff.writes.map((write) =>
        write.op === 'put'
          ? `put ${keyText(write.path)}=${write.value.toString()} if ${write.readModRevision === undefined ? 'absent' : `mod ${write.readModRevision}`}`
          : `delete ${keyText(write.path)} if mod ${write.readModRevision}`,
      ),
    ).toEqual(writes);
  });
});

describe('resyncTxns', () => {
  it('splits the differences into Txns within etcd\'s 128 operations, each write guarded', () => {
    const want: Record<string, string> = {};
    for (let i = 0; i < 300; i++) want[`/k${String(i).padStart(3, '0')}`] = String(i);
    const txns = resyncTxns(diffKeyspaces(source(want), new Map()).writes, (path) => k(`/replica${keyText(path)}`));
    expect(txns.map((txn) => txn.success.length)).toEqual([128, 128, 44]);
    expect(txns.every((txn) => txn.compare.length === txn.success.length)).toBe(true);
    expect(txns[0]?.success[0]).toEqual({ put: { key: k('/replica/k000'), value: Buffer.from('0') } });
  });

  it('splits by request size', () => {
    const big = 'x'.repeat(400 * 1024);
    const txns = resyncTxns(diffKeyspaces(source({ '/a': big, '/b': big, '/c': big }), new Map()).writes, (path) => path);
    expect(txns.map((txn) => txn.success.length)).toEqual([2, 1]);
  });
});

describe('keyspaceDifferences (mirror-verify for v3 destinations)', () => {
  it('tells missing, extra and different keys apart, by path', () => {
    expect(keyspaceDifferences(source({ '/a': '1', '/b': '2', '/same': 's' }), source({ '/b': '3', '/c': '4', '/same': 's' }))).toEqual([
      { kind: 'missing', path: '/a', source: { dir: false, value: '1' } },
      { kind: 'value', path: '/b', source: '2', replica: '3' },
      { kind: 'extra', path: '/c', replica: { dir: false, value: '4' }, below: 0 },
    ]);
  });
});
