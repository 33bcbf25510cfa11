// Reads the mirror takes at one revision: a whole range page by page (a
// resync's snapshot, a span to check), and a set of keys in one round trip.
import type { EtcdV3Client } from '../etcd/v3/client.js';
import { keyAfter, type KeyBytes, type KeyInterval } from '../etcd/v3/keys.js';
import type { KeyValue } from '../etcd/v3/types.js';

/** Keys per page: a page of 1 MiB values is already ~500 MiB; few prefixes hold values that large. */
const pageSize = 500;
/** Range operations per read-only Txn. */
const keysPerRead = 100;

export interface RangeSnapshot {
  /** Every page was read at this revision. */
  readonly revision: number;
  readonly kvs: readonly KeyValue[];
}

/**
 * Every key in `interval` at one revision: the first page fixes it (or
 * `atRevision`), later pages ask for it explicitly, so the result is one
 * consistent state even while writes go on. A compaction past that revision
 * mid-way fails with etcd's compacted error; the caller starts again.
 */
export async function readRange(client: EtcdV3Client, interval: KeyInterval, atRevision = 0, keep: (key: KeyBytes) => boolean = () => true): Promise<RangeSnapshot> {
  const kvs: KeyValue[] = [];
  let revision = atRevision;
  let start = interval.start;
  for (;;) {
    const page = await client.range({ key: start, end: interval.end, revision, limit: pageSize });
    if (revision === 0) revision = page.header.revision;
    for (const kv of page.kvs) if (keep(kv.key)) kvs.push(kv);
    const last = page.kvs[page.kvs.length - 1];
    if (!page.more || last === undefined) return { revision, kvs };
    start = keyAfter(last.key);
  }
}

/** What each key holds, read in one consistent Txn per hundred keys. */
export async function readKeys(client: EtcdV3Client, keys: readonly KeyBytes[]): Promise<{ revision: number; values: Map<KeyBytes, KeyValue> }> {
  const values = new Map<KeyBytes, KeyValue>();
  let revision = 0;
  for (let at = 0; at < keys.length; at += keysPerRead) {
    const chunk = keys.slice(at, at + keysPerRead);
    const result = await client.txn({ compare: [], success: chunk.map((key) => ({ range: { key } })), failure: [] });
    revision = result.header.revision;
    for (const response of result.responses) {
      if (response.kind !== 'range') continue;
      for (const kv of response.range.kvs) values.set(kv.key, kv);
    }
  }
  return { revision, values };
}
