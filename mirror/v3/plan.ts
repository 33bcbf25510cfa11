// One source revision (a v3 revision, or one v2 event's index) → the
// destination writes it implies, each with the state the destination key
// must hold before it (what makes the mirror strict). Pure: no network.
//
// Leases are not copied: a key written with a lease on the source is
// written without one, and the lease's expiry or revocation reaches the
// mirror as a delete event like any other. A copied lease would need its own
// keep-alive on the destination and could expire a key the source still holds.
import type { KeyBytes, KeyInterval } from '../etcd/v3/keys.js';
import type { WatchEvent } from '../etcd/v3/types.js';
import { destinationKeyFor, isIgnoredPath, sourcePath, type KeySpace } from './keyspace.js';

/** What a destination key must hold before a write. */
export type Expected =
  | { readonly kind: 'absent' }
  | { readonly kind: 'value'; readonly value: Buffer }
  /** The key existed, its value unknown: etcd sent no prev_kv because the source had compacted it. */
  | { readonly kind: 'present' };

export type PlannedWrite =
  | { readonly op: 'put'; readonly key: KeyBytes; readonly value: Buffer; readonly expected: Expected }
  | { readonly op: 'delete'; readonly key: KeyBytes; readonly expected: Expected }
  /** A v2 recursive delete: every key below a directory; v2 tells nothing about what it held. */
  | { readonly op: 'deleteRange'; readonly interval: KeyInterval };

export interface RevisionChange {
  /** The source revision (v3) or index (v2) this change brings the destination to. */
  readonly revision: number;
  readonly writes: readonly PlannedWrite[];
  /** For logs and strict errors: what happened on the source ("put", "delete", a v2 action). */
  readonly action: string;
  /** Source events this change replicates (for etcdmirror_replicated_events_total). */
  readonly events: number;
}

export const absent: Expected = { kind: 'absent' };

function expectedBefore(event: WatchEvent): Expected {
  if (event.prevKv !== undefined) return { kind: 'value', value: event.prevKv.value };
  // Without prev_kv only a create is known for sure (research: a watch
  // resuming near a compaction gets updates and deletes without prev_kv and
  // no error). Reading "no prev_kv" as "absent" would stop on a false divergence.
  if (event.type === 'put' && event.kv.version === 1) return absent;
  return { kind: 'present' };
}

export interface PlannedRevision {
  readonly change: RevisionChange;
  /** Events under the prefix that --src-ignore-keys-regex left out. */
  readonly ignored: number;
}

/** All events of one source revision (etcd never splits a revision across watch responses). */
export function planRevision(space: KeySpace, revision: number, events: readonly WatchEvent[]): PlannedRevision {
  const writes: PlannedWrite[] = [];
  let ignored = 0;
  const actions = new Set<string>();
  for (const event of events) {
    const path = sourcePath(space, event.kv.key);
    // The watch covers [prefix, prefix + "0"): siblings such as "/conftool-x" arrive too.
    if (path === undefined) continue;
    if (isIgnoredPath(space, path)) {
      ignored += 1;
      continue;
    }
    const key = destinationKeyFor(space, path);
    actions.add(event.type);
    if (event.type === 'put') writes.push({ op: 'put', key, value: event.kv.value, expected: expectedBefore(event) });
    else writes.push({ op: 'delete', key, expected: expectedBefore(event) });
  }
  return { change: { revision, writes, action: [...actions].sort().join('+') || 'none', events: writes.length }, ignored };
}

/** The keys and ranges a change writes, for batching (etcd refuses a Txn that writes one key twice). */
export function writtenIntervals(change: RevisionChange): KeyInterval[] {
  return change.writes.map((write) => (write.op === 'deleteRange' ? write.interval : { start: write.key, end: (write.key + '\u0000') as KeyBytes }));
}

export function describeExpected(expected: Expected | { kind: 'absent' } | { kind: 'value'; value: Buffer }): string {
  switch (expected.kind) {
    case 'absent':
      return 'no key';
    case 'present':
      return 'a key (any value)';
    case 'value':
      return `value ${describeValue(expected.value)}`;
  }
}

/** A value as a log line shows it: quoted text, cut after 200 characters. */
export function describeValue(value: Buffer): string {
  const text = value.toString('utf8');
  return text.length > 200 ? `${JSON.stringify(text.slice(0, 200))}… (${value.length} bytes)` : JSON.stringify(text);
}
