// The set of keys one etcd v3 request can touch, as a half-open byte
// interval. etcd spells ranges three ways (RangeRequest in rpc.proto):
// an empty range_end is the single key, "\0" is every key >= key, anything
// else is [key, range_end). Deciding on anything but the normalised interval
// is how etcd's own watch check leaked every key after a readable one
// (GHSA-xg4h-6gfc-h4m8: it normalised "\0" after the permission check).
//
// Shared by the proxy (ACL decisions) and the mirror (prefix ranges).

/** [start, end): `end === null` is unbounded (every key >= start). */
export interface KeyRange {
  readonly start: Buffer;
  readonly end: Buffer | null;
}

const zeroByte = Buffer.from([0]);

/** True for range_end "\0", etcd's "every key >= key". */
function isFromKey(rangeEnd: Uint8Array): boolean {
  return rangeEnd.length === 1 && rangeEnd[0] === 0;
}

/** The key followed by a zero byte: the smallest key greater than `key`. */
export function keySuccessor(key: Uint8Array): Buffer {
  return Buffer.concat([key, zeroByte]);
}

/**
 * The interval etcd acts on for (key, range_end). An inverted range
 * (range_end <= key) touches no key in etcd 3.4's mvcc (its index walk stops
 * at once); we still count it as the single key, so deciding on it can only
 * ask for more than etcd does, never less.
 */
export function keyRange(key: Uint8Array, rangeEnd: Uint8Array): KeyRange {
  const start = Buffer.from(key);
  if (rangeEnd.length === 0) return { start, end: keySuccessor(key) };
  if (isFromKey(rangeEnd)) return { start, end: null };
  const end = Buffer.from(rangeEnd);
  if (Buffer.compare(end, start) <= 0) return { start, end: keySuccessor(key) };
  return { start, end };
}

/**
 * What a watch create request watches: etcd's watch server first replaces an
 * empty key by "\0" (the smallest key), then reads range_end as above.
 */
export function watchKeyRange(key: Uint8Array, rangeEnd: Uint8Array): KeyRange {
  return keyRange(key.length === 0 ? zeroByte : key, rangeEnd);
}

/**
 * etcd's prefix range end (clientv3.GetPrefixRangeEnd): the prefix with its
 * last byte below 0xff incremented and what follows dropped; "\0" (every
 * key) when the prefix is empty or all 0xff.
 */
export function prefixRangeEnd(prefix: Uint8Array): Buffer {
  for (let i = prefix.length - 1; i >= 0; i--) {
    const byte = prefix[i];
    if (byte !== undefined && byte < 0xff) {
      const end = Buffer.from(prefix.subarray(0, i + 1));
      end[i] = byte + 1;
      return end;
    }
  }
  return Buffer.from(zeroByte);
}

/** The whole keyspace, every key etcd can hold (the empty key included). */
export const everyKey: KeyRange = { start: Buffer.alloc(0), end: null };

/** For logs: the range as etcdctl would print it, bytes outside printable ASCII escaped. */
export function describeKeyRange(range: KeyRange): string {
  const start = printableKey(range.start);
  if (range.end === null) return `${start}..(every key after)`;
  if (range.end.equals(keySuccessor(range.start))) return start;
  return `${start}..${printableKey(range.end)}`;
}

export function printableKey(key: Uint8Array): string {
  let text = '';
  for (const byte of key) {
    text += byte >= 0x20 && byte < 0x7f && byte !== 0x5c ? String.fromCharCode(byte) : `\\x${byte.toString(16).padStart(2, '0')}`;
  }
  return text;
}
