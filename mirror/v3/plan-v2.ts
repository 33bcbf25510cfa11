// One v2 event → the v3 writes that carry it into a v3 keyspace with the
// same key names (the v2 → v3 migration). Pure: no network.
//
// v3 has no directories: a key's directories are implied by its name. A
// directory created empty is dropped (and said so in the log); a recursive
// delete or expiry of a directory deletes every v3 key below it
// (DeleteRange of "dir/"). TTLs are not copied, as in the v2 mirror: the
// source's expire event deletes the key.
import { UnknownActionError } from '../apply.js';
import { covers, isHiddenBelow } from '../etcd/keys.js';
import { isEtcdAction, type EtcdNode } from '../etcd/types.js';
import { keyFromText, prefixInterval, type KeyBytes, type KeyInterval } from '../etcd/v3/keys.js';
import type { RawEvent } from '../source.js';
import { coveringInterval, destinationKeyFor, exactIntervals, isIgnoredPath, sourcePath, type KeySpace } from './keyspace.js';
import { absent, type Expected, type PlannedWrite, type RevisionChange } from './plan.js';

export type V2EventNote = 'replicated' | 'emptyDirectory' | 'directoryUpdate' | 'hidden' | 'ignored' | 'outside';

export interface PlannedV2Event {
  readonly change: RevisionChange;
  readonly note: V2EventNote;
}

function before(prevNode: EtcdNode | undefined, fallback: Expected): Expected {
  if (prevNode === undefined) return fallback;
  if (prevNode.dir === true) return absent;
  return { kind: 'value', value: Buffer.from(prevNode.value ?? '', 'utf8') };
}

/** Every v3 key below a destination directory path ("dir/…"); the whole destination root for the prefix itself. */
function below(space: KeySpace, path: KeyBytes): KeyInterval[] {
  const base = (space.destinationBase + path) as KeyBytes;
  if (base === '') return [coveringInterval(base)];
  return [prefixInterval((base + '/') as KeyBytes)];
}

const removals = new Set(['delete', 'compareAndDelete', 'expire']);

export function planV2Event(space: KeySpace, raw: RawEvent, index: number): PlannedV2Event {
  const action = raw.action;
  const key = raw.node.key;
  const none = (note: V2EventNote): PlannedV2Event => ({ change: { revision: index, writes: [], action, events: 0 }, note });
  if (!isEtcdAction(action)) throw new UnknownActionError(action, key, index);
  const path = sourcePath(space, keyFromText(key));
  if (path === undefined) {
    // etcd reports the delete or expiry of an ancestor directory to watchers
    // below it (matching ancestors unanchored: "/con" for "/conftool").
    if (!removals.has(action) || !covers(key, space.mapping.srcPrefix)) return none('outside');
    const writes = exactIntervals(space.destinationBase).map((interval): PlannedWrite => ({ op: 'deleteRange', interval }));
    return { change: { revision: index, writes, action, events: 1 }, note: 'replicated' };
  }
  if (isHiddenBelow(key, space.mapping.srcPrefix)) return none('hidden');
  if (isIgnoredPath(space, path)) return none('ignored');
  const isDirectory = raw.node.dir === true || raw.prevNode?.dir === true;
  switch (action) {
    case 'set':
    case 'create': // POST in-order keys too: the generated name is the key
    case 'update':
    case 'compareAndSwap': {
      if (raw.node.dir === true) return none(action === 'update' ? 'directoryUpdate' : 'emptyDirectory');
      const write: PlannedWrite = { op: 'put', key: destinationKeyFor(space, path), value: Buffer.from(raw.node.value ?? '', 'utf8'), expected: before(raw.prevNode, absent) };
      return { change: { revision: index, writes: [write], action, events: 1 }, note: 'replicated' };
    }
    case 'delete':
    case 'compareAndDelete':
    case 'expire': {
      if (isDirectory) {
        const writes = below(space, path).map((interval): PlannedWrite => ({ op: 'deleteRange', interval }));
        return { change: { revision: index, writes, action, events: 1 }, note: 'replicated' };
      }
      const write: PlannedWrite = { op: 'delete', key: destinationKeyFor(space, path), expected: before(raw.prevNode, { kind: 'present' }) };
      return { change: { revision: index, writes: [write], action, events: 1 }, note: 'replicated' };
    }
    case 'get':
      // A watch never emits "get"; seeing one means the stream is not what we think.
      throw new UnknownActionError(action, key, index);
    default: {
      const unreachable: never = action;
      throw new UnknownActionError(String(unreachable), key, index);
    }
  }
}
