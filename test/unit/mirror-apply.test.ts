import { describe, expect, it } from 'vitest';
import { planWrite, UnknownActionError } from '../../mirror/apply.js';
import type { EtcdAction, EtcdEvent } from '../../mirror/etcd/types.js';

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
