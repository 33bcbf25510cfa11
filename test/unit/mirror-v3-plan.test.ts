import { describe, expect, it } from 'vitest';
import { UnknownActionError } from '../../mirror/apply.js';
import { keyFromText, keyText } from '../../mirror/etcd/v3/keys.js';
import type { KeyValue, WatchEvent } from '../../mirror/etcd/v3/types.js';
import type { RawEvent } from '../../mirror/source.js';
import { keySpace } from '../../mirror/v3/keyspace.js';
import { planRevision, type PlannedWrite } from '../../mirror/v3/plan.js';
import { planV2Event } from '../../mirror/v3/plan-v2.js';

const space = keySpace({ srcPrefix: '/conftool', dstPrefix: '/replica', strip: true }, /\/locks\//);

function kv(key: string, value: string, version: number, modRevision = 10): KeyValue {
  return { key: keyFromText(key), value: Buffer.from(value), createRevision: 1, modRevision, version };
}

/** Writes as readable tuples: [op, destination key or range, what is expected before]. */
function shown(writes: readonly PlannedWrite[]): string[][] {
  return writes.map((write) => {
    if (write.op === 'deleteRange') return ['deleteRange', `${keyText(write.interval.start)}..${keyText(write.interval.end)}`];
    const expected = write.expected.kind === 'value' ? `value ${write.expected.value.toString()}` : write.expected.kind;
    return write.op === 'put' ? ['put', keyText(write.key), write.value.toString(), expected] : ['delete', keyText(write.key), expected];
  });
}

describe('planRevision (v3 events → destination writes)', () => {
  it.each<[string, WatchEvent, string[]]>([
    ['a create expects no key', { type: 'put', kv: kv('/conftool/a', '1', 1) }, ['put', '/replica/a', '1', 'absent']],
    ['an update expects the previous value', { type: 'put', kv: kv('/conftool/a', '2', 2), prevKv: kv('/conftool/a', '1', 1, 5) }, ['put', '/replica/a', '2', 'value 1']],
    ['an update without prev_kv (compacted) expects only a key', { type: 'put', kv: kv('/conftool/a', '2', 2) }, ['put', '/replica/a', '2', 'present']],
    ['a delete expects the previous value', { type: 'delete', kv: kv('/conftool/a', '', 0), prevKv: kv('/conftool/a', '1', 1, 5) }, ['delete', '/replica/a', 'value 1']],
    ['a delete without prev_kv expects only a key', { type: 'delete', kv: kv('/conftool/a', '', 0) }, ['delete', '/replica/a', 'present']],
    ['an empty previous value is compared too', { type: 'put', kv: kv('/conftool/a', 'x', 2), prevKv: kv('/conftool/a', '', 1, 5) }, ['put', '/replica/a', 'x', 'value ']],
  ])('%s', (_name, event, expected) => {
    expect(shown(planRevision(space, 10, [event]).change.writes)).toEqual([expected]);
  });

  it('keeps every event of a revision in one change, in order, and counts them', () => {
    const planned = planRevision(space, 10, [
      { type: 'put', kv: kv('/conftool/a', '1', 1) },
      { type: 'delete', kv: kv('/conftool/b', '', 0), prevKv: kv('/conftool/b', 'old', 3, 4) },
    ]);
    expect(planned.change.revision).toBe(10);
    expect(planned.change.events).toBe(2);
    expect(planned.change.action).toBe('delete+put');
    expect(shown(planned.change.writes)).toEqual([['put', '/replica/a', '1', 'absent'], ['delete', '/replica/b', 'value old']]);
  });

  it('leaves out siblings of the prefix and ignored keys, but keeps the revision', () => {
    const planned = planRevision(space, 11, [
      { type: 'put', kv: kv('/conftool-x/a', '1', 1) },
      { type: 'put', kv: kv('/conftool/v1/locks/l', '1', 1) },
    ]);
    expect(planned.change).toEqual({ revision: 11, writes: [], action: 'none', events: 0 });
    expect(planned.ignored).toBe(1);
  });
});

function v2(action: string, key: string, node: Partial<RawEvent['node']>, prevNode?: Partial<RawEvent['node']>): RawEvent {
  const full = { key, modifiedIndex: 7, createdIndex: 7, ...node };
  return prevNode === undefined ? { action, node: full } : { action, node: full, prevNode: { key, modifiedIndex: 6, createdIndex: 6, ...prevNode } };
}

describe('planV2Event (every v2 action → v3 writes with the same key names)', () => {
  const same = keySpace({ srcPrefix: '/conftool', dstPrefix: '/conftool', strip: true }, undefined);
  it.each<[string, RawEvent, string[][], string]>([
    ['set of a new key', v2('set', '/conftool/a', { value: '1' }), [['put', '/conftool/a', '1', 'absent']], 'replicated'],
    ['set over a value', v2('set', '/conftool/a', { value: '2' }, { value: '1' }), [['put', '/conftool/a', '2', 'value 1']], 'replicated'],
    ['create (also POST in-order keys)', v2('create', '/conftool/q/00000000000000000012', { value: 'job' }), [['put', '/conftool/q/00000000000000000012', 'job', 'absent']], 'replicated'],
    ['update', v2('update', '/conftool/a', { value: '3' }, { value: '2' }), [['put', '/conftool/a', '3', 'value 2']], 'replicated'],
    ['compareAndSwap', v2('compareAndSwap', '/conftool/a', { value: '4' }, { value: '3' }), [['put', '/conftool/a', '4', 'value 3']], 'replicated'],
    ['delete', v2('delete', '/conftool/a', {}, { value: '4' }), [['delete', '/conftool/a', 'value 4']], 'replicated'],
    ['compareAndDelete', v2('compareAndDelete', '/conftool/a', {}, { value: '4' }), [['delete', '/conftool/a', 'value 4']], 'replicated'],
    ['expire of a key', v2('expire', '/conftool/t', {}, { value: 'ttl' }), [['delete', '/conftool/t', 'value ttl']], 'replicated'],
    ['recursive delete of a directory: DeleteRange of "dir/"', v2('delete', '/conftool/d', { dir: true }, { dir: true }), [['deleteRange', '/conftool/d/../conftool/d0']], 'replicated'],
    ['expire of a directory', v2('expire', '/conftool/d', { dir: true }, { dir: true }), [['deleteRange', '/conftool/d/../conftool/d0']], 'replicated'],
    ['mkdir: an empty directory has no v3 form', v2('set', '/conftool/empty', { dir: true }), [], 'emptyDirectory'],
    ['a directory TTL update changes nothing in v3', v2('update', '/conftool/d', { dir: true }, { dir: true }), [], 'directoryUpdate'],
    ['hidden keys are never replicated', v2('set', '/conftool/_hidden/a', { value: '1' }), [], 'hidden'],
    ['delete of an ancestor of the prefix empties the destination root', v2('delete', '/', { dir: true }, { dir: true }), [['deleteRange', '/conftool../conftool\u0000'], ['deleteRange', '/conftool/../conftool0']], 'replicated'],
    ['an ancestor matched unanchored by etcd ("/con" for "/conftool") is not one', v2('delete', '/con', { dir: true }, { dir: true }), [], 'outside'],
  ])('%s', (_name, raw, writes, note) => {
    const planned = planV2Event(same, raw, 7);
    expect(shown(planned.change.writes)).toEqual(writes);
    expect(planned.note).toBe(note);
    expect(planned.change.revision).toBe(7);
  });

  it('stops on an action it does not know instead of skipping it', () => {
    expect(() => planV2Event(same, v2('frobnicate', '/conftool/a', { value: '1' }), 7)).toThrow(UnknownActionError);
    expect(() => planV2Event(same, v2('get', '/conftool/a', { value: '1' }), 7)).toThrow(UnknownActionError);
  });
});
