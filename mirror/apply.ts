// One source event → skip, or one destination write carrying the
// precondition that makes the mirror strict (the destination must hold the
// event's prevNode): planEvent, pure, decides which (key mapping, ancestor
// deletes, hidden keys, the ignore regex, the action switch). applyWrite
// then performs it, with the idempotency check that lets a restarted mirror
// re-apply events it had applied but not yet recorded.
//
// TTLs: keys and directories are written WITHOUT a TTL. A TTL refresh
// (`refresh=true`) produces no watch event (research §3.4), so a mirrored TTL
// would drift and the replica could expire a key the source still holds.
// Instead the source's own `expire` event deletes the replica's copy.
import { EtcdApiError, type EtcdClient, type WriteConditions } from './etcd/client.js';
import { covers, isHiddenBelow } from './etcd/keys.js';
import { isEtcdAction, type EtcdEvent, type EtcdNode, type RawEvent } from './etcd/types.js';
import { EtcdErrorCode } from './etcd/wire-error.js';
import { destinationKey, destinationRoot, type KeyMapping } from './key-mapping.js';

// A failed precondition, in any of the ways etcd reports one.
const preconditionFailures: readonly number[] = [EtcdErrorCode.KeyNotFound, EtcdErrorCode.TestFailed, EtcdErrorCode.NotFile, EtcdErrorCode.NodeExist];

export class StrictReplicationError extends Error {
  readonly code = 'ETCD_WARDEN_STRICT';
  constructor(
    readonly key: string,
    readonly expected: string,
    readonly actual: string,
    readonly index: number,
    readonly action: string,
  ) {
    super(
      `destination diverged at ${key} (event ${action} at source index ${index}): ` +
        `expected ${expected}, destination holds ${actual}`,
    );
  }
}

export class UnknownActionError extends Error {
  readonly code = 'ETCD_WARDEN_UNKNOWN_ACTION';
  constructor(
    readonly action: string,
    readonly key: string,
    readonly index: number,
  ) {
    super(`unknown etcd action "${action}" on ${key} at index ${index}: refusing to guess how to replicate it`);
  }
}

export type NodeState = { kind: 'absent' } | { kind: 'dir' } | { kind: 'file'; value: string };

export type DestinationWrite =
  | { kind: 'put'; key: string; content: { value: string } | { dir: true }; conditions: WriteConditions; before: NodeState; after: NodeState }
  | { kind: 'delete'; key: string; recursive: boolean; prevValue?: string; before: NodeState };

/** What the mirror replicates: its key mapping and --src-ignore-keys-regex. */
export interface ReplicationPolicy {
  readonly mapping: KeyMapping;
  readonly ignore: RegExp | undefined;
}

export type SkipReason = 'outside the source prefix' | 'hidden' | 'ignored';

export type EventPlan = { readonly kind: 'skip'; readonly why: SkipReason } | { readonly kind: 'write'; readonly write: DestinationWrite };

/** One source event → skip, or the one destination write that replicates it. Throws UnknownActionError. */
export function planEvent(raw: RawEvent, index: number, policy: ReplicationPolicy): EventPlan {
  const { mapping } = policy;
  const key = raw.node.key;
  if (!isEtcdAction(raw.action)) throw new UnknownActionError(raw.action, key, index);
  let event: EtcdEvent = raw.prevNode === undefined ? { action: raw.action, node: raw.node } : { action: raw.action, node: raw.node, prevNode: raw.prevNode };
  let dstKey = destinationKey(key, mapping);
  if (dstKey === undefined) {
    // etcd reports the delete/expire of an ancestor directory to watchers
    // below it (and matches ancestors unanchored: "/con" for "/conftool").
    const removesPrefix = (raw.action === 'delete' || raw.action === 'expire' || raw.action === 'compareAndDelete') && covers(key, mapping.srcPrefix);
    if (!removesPrefix) return { kind: 'skip', why: 'outside the source prefix' };
    dstKey = destinationRoot(mapping);
    event = { action: raw.action, node: { ...raw.node, key: mapping.srcPrefix, dir: true } };
  }
  if (isHiddenBelow(key, mapping.srcPrefix)) return { kind: 'skip', why: 'hidden' };
  if (policy.ignore?.test(key) === true) return { kind: 'skip', why: 'ignored' };
  return { kind: 'write', write: planWrite(event, dstKey, index) };
}

export function nodeState(node: EtcdNode | undefined): NodeState {
  if (node === undefined) return { kind: 'absent' };
  if (node.dir === true) return { kind: 'dir' };
  return { kind: 'file', value: node.value ?? '' };
}

export function describeState(state: NodeState): string {
  switch (state.kind) {
    case 'absent':
      return 'no key';
    case 'dir':
      return 'a directory';
    case 'file':
      return `value ${JSON.stringify(state.value)}`;
  }
}

export function sameState(a: NodeState, b: NodeState): boolean {
  if (a.kind !== b.kind) return false;
  return a.kind !== 'file' || (b.kind === 'file' && a.value === b.value);
}

function putFor(event: EtcdEvent, key: string): DestinationWrite {
  const before = nodeState(event.prevNode);
  const after = nodeState(event.node);
  const content: { value: string } | { dir: true } = after.kind === 'dir' ? { dir: true } : { value: event.node.value ?? '' };
  let conditions: WriteConditions;
  if (before.kind === 'absent') conditions = { prevExist: false };
  // etcd refuses an empty prevValue (error 201), so an empty previous value
  // is checked by reading the key first (see applyWrite).
  else if (before.kind === 'file' && before.value !== '') conditions = { prevValue: before.value };
  else conditions = { prevExist: true };
  return { kind: 'put', key, content, conditions, before, after };
}

function deleteFor(event: EtcdEvent, key: string): DestinationWrite {
  const before = nodeState(event.prevNode ?? (event.node.dir === true ? event.node : undefined));
  const recursive = before.kind === 'dir' || event.node.dir === true;
  if (before.kind === 'file' && before.value !== '') return { kind: 'delete', key, recursive, prevValue: before.value, before };
  return { kind: 'delete', key, recursive, before };
}

/**
 * The action switch: every v2 action has a case, and the compiler refuses a
 * missing one. etcdmirror's `else: log.warn("Unrecognized action, skipping")`
 * is how `update` and `compareAndDelete` were silently lost.
 */
export function planWrite(event: EtcdEvent, key: string, index: number): DestinationWrite {
  const action = event.action;
  switch (action) {
    case 'set':
    case 'create': // includes POST in-order keys: same generated name, written with PUT
    case 'update': // prevExist=true writes, including TTL changes (TTL not mirrored)
    case 'compareAndSwap':
      return putFor(event, key);
    case 'delete':
    case 'compareAndDelete':
    case 'expire':
      return deleteFor(event, key);
    case 'get':
      // A watch never emits "get"; seeing one means the stream is not what we think.
      throw new UnknownActionError(action, key, index);
    default: {
      const unreachable: never = action;
      throw new UnknownActionError(String(unreachable), key, index);
    }
  }
}

async function currentState(dst: EtcdClient, key: string): Promise<NodeState> {
  return nodeState(await dst.read(key));
}

/**
 * Applies one planned write. Returns 'applied' or 'already' (the destination
 * already held the event's result: a re-application after a crash between
 * "apply" and "record index"). Throws StrictReplicationError on divergence;
 * transport errors propagate for the caller's retry.
 */
export async function applyWrite(dst: EtcdClient, write: DestinationWrite, index: number, action: string): Promise<'applied' | 'already'> {
  const diverged = (actual: NodeState): StrictReplicationError =>
    new StrictReplicationError(write.key, describeState(write.before), describeState(actual), index, action);

  if (write.kind === 'put') {
    if (write.before.kind === 'file' && write.before.value === '') {
      const state = await currentState(dst, write.key);
      if (sameState(state, write.after)) return 'already';
      if (!sameState(state, write.before)) throw diverged(state);
    }
    if (write.before.kind === 'dir' && write.after.kind === 'dir') {
      // A directory "update" only changes its TTL, which we do not mirror.
      const state = await currentState(dst, write.key);
      if (state.kind !== 'dir') throw diverged(state);
      return 'already';
    }
    try {
      await dst.put(write.key, write.content, write.conditions);
      return 'applied';
    } catch (error) {
      if (!(error instanceof EtcdApiError) || !preconditionFailures.includes(error.wire.errorCode)) throw error;
      const state = await currentState(dst, write.key);
      if (sameState(state, write.after)) return 'already';
      throw diverged(state);
    }
  }

  if (write.before.kind === 'file' && write.before.value === '') {
    const state = await currentState(dst, write.key);
    if (state.kind === 'absent') return 'already';
    if (!sameState(state, write.before)) throw diverged(state);
  }
  try {
    const options: { recursive?: boolean; prevValue?: string } = {};
    if (write.recursive) options.recursive = true;
    if (write.prevValue !== undefined) options.prevValue = write.prevValue;
    await dst.delete(write.key, options);
    return 'applied';
  } catch (error) {
    if (!(error instanceof EtcdApiError)) throw error;
    // The result of a delete is "no key": already there means already applied.
    if (error.wire.errorCode === EtcdErrorCode.KeyNotFound) return 'already';
    if (error.wire.errorCode !== EtcdErrorCode.TestFailed && error.wire.errorCode !== EtcdErrorCode.NotFile) throw error;
    const state = await currentState(dst, write.key);
    if (state.kind === 'absent') return 'already';
    throw diverged(state);
  }
}
