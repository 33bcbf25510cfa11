import { describe, expect, it } from 'vitest';
import { planEvent, planWrite, UnknownActionError, type ReplicationPolicy } from '../../mirror/apply.js';
import type { EtcdAction, EtcdEvent, RawEvent } from '../../mirror/etcd/types.js';

const node = (value?: string, dir = false) => ({ key: '/s/k', ...(dir ? { dir: true } : { value }), modifiedIndex: 9, createdIndex: 9 });
const event = (action: EtcdAction, after: ReturnType<typeof node>, before?: ReturnType<typeof node>): EtcdEvent =>
  before === undefined ? { action, node: after } : { action, node: after, prevNode: before };

describe('planWrite: one destination write per action, with its precondition', () => {
  it.each([
    ['create', event('create', node('v')), { kind: 'put', content: { value: 'v' }, conditions: { prevExist: false } }],
    ['set on a new key', event('set', node('v')), { kind: 'put', conditions: { prevExist: false } }],
    ['set over a value', event('set', node('v'), node('old')), { kind: 'put', conditions: { prevValue: 'old' } }],
    ['update', event('update', node('v'), node('old')), { kind: 'put', conditions: { prevValue: 'old' } }],
    ['compareAndSwap', event('compareAndSwap', node('v'), node('old')), { kind: 'put', conditions: { prevValue: 'old' } }],
    ['set over an empty value (etcd refuses prevValue="")', event('set', node('v'), node('')), { kind: 'put', conditions: { prevExist: true } }],
    ['a new directory', event('set', node(undefined, true)), { kind: 'put', content: { dir: true }, conditions: { prevExist: false } }],
    ['delete of a key', event('delete', node(), node('old')), { kind: 'delete', recursive: false, prevValue: 'old' }],
    ['compareAndDelete', event('compareAndDelete', node(), node('old')), { kind: 'delete', recursive: false, prevValue: 'old' }],
    ['expire', event('expire', node(), node('old')), { kind: 'delete', recursive: false, prevValue: 'old' }],
    ['recursive delete of a dir', event('delete', node(undefined, true), node(undefined, true)), { kind: 'delete', recursive: true }],
  ] as const)('%s', (_name, input, expected) => {
    expect(planWrite(input, '/d/k', 9)).toMatchObject({ key: '/d/k', ...expected });
  });

  it('stops on an action it does not know instead of skipping it', () => {
    const strange = { action: 'teleport', node: node('v') } as unknown as EtcdEvent;
    expect(() => planWrite(strange, '/d/k', 9)).toThrow(UnknownActionError);
    expect(() => planWrite(event('get', node('v')), '/d/k', 9)).toThrow(/get/);
  });
});

describe('planEvent: which events the mirror writes, and where', () => {
  const policy: ReplicationPolicy = { mapping: { srcPrefix: '/conftool', dstPrefix: '/replica', strip: true }, ignore: /^\/conftool\/tmp(\/|$)/ };
  const raw = (action: string, key: string, extra: Partial<RawEvent> = {}): RawEvent => ({ action, node: { key, value: 'v', modifiedIndex: 9, createdIndex: 9 }, ...extra });

  it.each([
    ['a key under the prefix, mapped with --strip', raw('set', '/conftool/a/b'), { kind: 'write', write: { kind: 'put', key: '/replica/a/b' } }],
    ['the prefix itself', raw('delete', '/conftool', { node: { key: '/conftool', dir: true, modifiedIndex: 9, createdIndex: 1 } }), { kind: 'write', write: { kind: 'delete', key: '/replica', recursive: true } }],
    ['a key beside the prefix on a string match only', raw('set', '/conftoolx/a'), { kind: 'skip', why: 'outside the source prefix' }],
    ['a hidden key below the prefix', raw('set', '/conftool/a/_lock'), { kind: 'skip', why: 'hidden' }],
    ['a key the ignore regex matches', raw('set', '/conftool/tmp/x'), { kind: 'skip', why: 'ignored' }],
    ['a key the ignore regex does not match', raw('set', '/conftool/tmpx'), { kind: 'write', write: { key: '/replica/tmpx' } }],
  ] as const)('%s', (_name, event, expected) => {
    expect(planEvent(event, 9, policy)).toMatchObject(expected);
  });

  const dir = (key: string) => ({ key, dir: true, modifiedIndex: 9, createdIndex: 1 });
  const nested: ReplicationPolicy = { mapping: { srcPrefix: '/pools/eqiad', dstPrefix: '/replica', strip: true }, ignore: undefined };

  it.each(['delete', 'expire', 'compareAndDelete'])('turns a %s of an ancestor directory into a recursive delete of the destination root', (action) => {
    const ancestor = raw(action, '/pools', { node: dir('/pools'), prevNode: dir('/pools') });
    expect(planEvent(ancestor, 9, nested)).toEqual({ kind: 'write', write: { kind: 'delete', key: '/replica', recursive: true, before: { kind: 'dir' } } });
  });

  it('skips any other event on an ancestor, and a delete etcd reports for an unanchored "ancestor"', () => {
    expect(planEvent(raw('set', '/pools'), 9, nested)).toEqual({ kind: 'skip', why: 'outside the source prefix' });
    expect(planEvent(raw('delete', '/pools/eq', { node: dir('/pools/eq') }), 9, nested)).toEqual({ kind: 'skip', why: 'outside the source prefix' });
  });

  it('keeps a hidden source prefix visible: only segments below it hide a key', () => {
    const hiddenPrefix: ReplicationPolicy = { mapping: { srcPrefix: '/_private', dstPrefix: '/r', strip: true }, ignore: undefined };
    expect(planEvent(raw('set', '/_private/a'), 9, hiddenPrefix)).toMatchObject({ kind: 'write', write: { key: '/r/a' } });
  });

  it('stops on an unknown action before looking at the key', () => {
    expect(() => planEvent(raw('teleport', '/elsewhere'), 9, policy)).toThrow(UnknownActionError);
  });
});
