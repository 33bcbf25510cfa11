// Typed messages ↔ the plain objects @grpc/proto-loader encodes and decodes
// (field names as in rpc.proto, int64 as strings, enums as numbers, bytes as
// Buffers). Decoding checks shapes instead of trusting them: a decoded
// message is `unknown` until it has been read here.
import { keyFromBuffer, keyToBuffer } from './keys.js';
import type { Compare, KeyValue, RangeRequest, RangeResult, RequestOp, ResponseHeader, ResponseOp, TxnRequest, TxnResult, WatchCreate, WatchEvent, WatchMessage } from './types.js';

type WireObject = Record<string, unknown>;

export class MalformedResponseError extends Error {
  readonly code = 'ETCD_WARDEN_V3_MALFORMED';
}

function object(value: unknown, what: string): WireObject {
  if (typeof value !== 'object' || value === null) throw new MalformedResponseError(`etcd sent a ${what} that is not a message`);
  return value as WireObject;
}

function int(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && value !== '') return Number(value);
  return 0;
}

function bytes(value: unknown): Buffer {
  return Buffer.isBuffer(value) ? value : Buffer.alloc(0);
}

function header(value: unknown): ResponseHeader {
  const raw = value === null || value === undefined ? {} : object(value, 'response header');
  return { clusterId: String(raw.cluster_id ?? '0'), memberId: String(raw.member_id ?? '0'), revision: int(raw.revision) };
}

function keyValue(value: unknown): KeyValue {
  const raw = object(value, 'key-value');
  return {
    key: keyFromBuffer(bytes(raw.key)),
    value: bytes(raw.value),
    createRevision: int(raw.create_revision),
    modRevision: int(raw.mod_revision),
    version: int(raw.version),
  };
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

/** etcd's Compare enums (rpc.proto): result Equal 0, Greater 1, Less 2; target Version 0, Mod 2, Value 3. */
const compareResult = { equal: 0, greater: 1, less: 2 } as const;
const compareTarget = { version: 0, mod: 2, value: 3 } as const;

function rangeEnd(end: string | undefined): Buffer | undefined {
  if (end === undefined) return undefined;
  // etcd spells "every key from here on" as a single zero byte.
  return end === '' ? Buffer.from([0]) : Buffer.from(end, 'latin1');
}

export function rangeToWire(request: RangeRequest): WireObject {
  return {
    key: keyToBuffer(request.key),
    range_end: rangeEnd(request.end),
    revision: String(request.revision ?? 0),
    limit: String(request.limit ?? 0),
    keys_only: request.keysOnly === true,
    count_only: request.countOnly === true,
    // SortOrder Descend 2, SortTarget Mod 3
    sort_order: request.newestFirst === true ? 2 : 0,
    sort_target: request.newestFirst === true ? 3 : 0,
  };
}

function compareToWire(compare: Compare): WireObject {
  const base = { key: keyToBuffer(compare.key), result: compareResult[compare.result], target: compareTarget[compare.target] };
  switch (compare.target) {
    case 'value':
      return { ...base, value: compare.value };
    case 'version':
      return { ...base, version: String(compare.version), range_end: rangeEnd(compare.end) };
    case 'mod':
      return { ...base, mod_revision: String(compare.modRevision), range_end: rangeEnd(compare.end) };
  }
}

function opToWire(op: RequestOp): WireObject {
  if ('put' in op) return { request_put: { key: keyToBuffer(op.put.key), value: op.put.value } };
  if ('deleteRange' in op) {
    return { request_delete_range: { key: keyToBuffer(op.deleteRange.key), range_end: rangeEnd(op.deleteRange.end), prev_kv: op.deleteRange.prevKv === true } };
  }
  return { request_range: rangeToWire(op.range) };
}

export function txnToWire(request: TxnRequest): WireObject {
  return { compare: request.compare.map(compareToWire), success: request.success.map(opToWire), failure: request.failure.map(opToWire) };
}

export function watchCreateToWire(create: WatchCreate): WireObject {
  return {
    create_request: {
      key: keyToBuffer(create.key),
      range_end: rangeEnd(create.end),
      start_revision: String(create.startRevision),
      prev_kv: create.prevKv,
      progress_notify: create.progressNotify,
    },
  };
}

export function rangeFromWire(value: unknown): RangeResult {
  const raw = object(value, 'range response');
  return { header: header(raw.header), kvs: list(raw.kvs).map(keyValue), more: raw.more === true, count: int(raw.count) };
}

function responseOpFromWire(value: unknown): ResponseOp {
  const raw = object(value, 'transaction response');
  if (raw.response_range !== undefined && raw.response_range !== null) return { kind: 'range', range: rangeFromWire(raw.response_range) };
  if (raw.response_put !== undefined && raw.response_put !== null) return { kind: 'put' };
  if (raw.response_delete_range !== undefined && raw.response_delete_range !== null) {
    const deleted = object(raw.response_delete_range, 'delete response');
    return { kind: 'deleteRange', deleted: int(deleted.deleted), prevKvs: list(deleted.prev_kvs).map(keyValue) };
  }
  return { kind: 'txn' };
}

export function txnFromWire(value: unknown): TxnResult {
  const raw = object(value, 'transaction response');
  return { header: header(raw.header), succeeded: raw.succeeded === true, responses: list(raw.responses).map(responseOpFromWire) };
}

function eventFromWire(value: unknown): WatchEvent {
  const raw = object(value, 'watch event');
  // mvccpb.Event.EventType: Put 0, Delete 1
  const type = int(raw.type) === 1 ? 'delete' : 'put';
  const kv = keyValue(raw.kv);
  if (raw.prev_kv === null || raw.prev_kv === undefined) return { type, kv };
  return { type, kv, prevKv: keyValue(raw.prev_kv) };
}

export function watchMessageFromWire(value: unknown): WatchMessage {
  const raw = object(value, 'watch response');
  const head = header(raw.header);
  if (raw.canceled === true) {
    return { kind: 'canceled', header: head, compactRevision: int(raw.compact_revision), reason: typeof raw.cancel_reason === 'string' ? raw.cancel_reason : '' };
  }
  if (raw.created === true) return { kind: 'created', header: head };
  const events = list(raw.events).map(eventFromWire);
  if (events.length === 0) return { kind: 'progress', header: head };
  return { kind: 'events', header: head, events };
}
