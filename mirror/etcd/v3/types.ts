// Typed shapes of the etcd v3 messages the mirror speaks (etcdserverpb,
// mvccpb), as the client returns them: keys as byte strings, values as
// Buffers, revisions as numbers (etcd's int64 revisions stay far below 2^53).
import type { KeyBytes } from './keys.js';

export interface ResponseHeader {
  readonly clusterId: string;
  readonly memberId: string;
  readonly revision: number;
}

export interface KeyValue {
  readonly key: KeyBytes;
  readonly value: Buffer;
  readonly createRevision: number;
  readonly modRevision: number;
  /** Puts since the key was (re)created: 1 for the put that created it. */
  readonly version: number;
}

export interface WatchEvent {
  readonly type: 'put' | 'delete';
  /** For a delete: the key and the deleting revision only. */
  readonly kv: KeyValue;
  /** Absent for a create, and whenever etcd could no longer read it (compacted). */
  readonly prevKv?: KeyValue;
}

export interface RangeRequest {
  readonly key: KeyBytes;
  /** Exclusive end; undefined = the key alone, "" = every key from `key` on. */
  readonly end?: KeyBytes;
  /** Read at this revision (0 or undefined: the newest). */
  readonly revision?: number;
  readonly limit?: number;
  readonly keysOnly?: boolean;
  readonly countOnly?: boolean;
  /** Newest modification first (with limit 1: the key changed last). */
  readonly newestFirst?: boolean;
}

export interface RangeResult {
  readonly header: ResponseHeader;
  readonly kvs: readonly KeyValue[];
  readonly more: boolean;
  /** Keys in the whole range, whatever the limit. */
  readonly count: number;
}

/** The compares the mirror needs; etcd compares every key of a range and fails on a missing key for `value`. */
export type Compare =
  | { readonly target: 'value'; readonly key: KeyBytes; readonly result: 'equal'; readonly value: Buffer }
  | { readonly target: 'version'; readonly key: KeyBytes; readonly end?: KeyBytes; readonly result: 'equal' | 'greater'; readonly version: number }
  | { readonly target: 'mod'; readonly key: KeyBytes; readonly end?: KeyBytes; readonly result: 'equal' | 'less'; readonly modRevision: number };

export type RequestOp =
  | { readonly put: { readonly key: KeyBytes; readonly value: Buffer } }
  | { readonly deleteRange: { readonly key: KeyBytes; readonly end?: KeyBytes; readonly prevKv?: boolean } }
  | { readonly range: RangeRequest };

export interface TxnRequest {
  readonly compare: readonly Compare[];
  readonly success: readonly RequestOp[];
  readonly failure: readonly RequestOp[];
}

export type ResponseOp =
  | { readonly kind: 'range'; readonly range: RangeResult }
  | { readonly kind: 'put' }
  | { readonly kind: 'deleteRange'; readonly deleted: number; readonly prevKvs: readonly KeyValue[] }
  | { readonly kind: 'txn' };

export interface TxnResult {
  readonly header: ResponseHeader;
  readonly succeeded: boolean;
  readonly responses: readonly ResponseOp[];
}

export interface WatchCreate {
  readonly key: KeyBytes;
  readonly end: KeyBytes;
  readonly startRevision: number;
  readonly prevKv: boolean;
  readonly progressNotify: boolean;
}

export type WatchMessage =
  | { readonly kind: 'created'; readonly header: ResponseHeader }
  | { readonly kind: 'events'; readonly header: ResponseHeader; readonly events: readonly WatchEvent[] }
  /** No events up to header.revision (etcd's own timed notification, ordered with the events). */
  | { readonly kind: 'progress'; readonly header: ResponseHeader }
  | { readonly kind: 'canceled'; readonly header: ResponseHeader; readonly compactRevision: number; readonly reason: string };
