// Pure: what differs between a source tree and a replica tree, told as an
// operator reads it. Built on the resync diff (mirror/resync.ts), so
// "different" here means exactly "a resync would change something".
import { diff, type FlatNode, type FlatTree } from './resync.js';

export type Difference =
  /** On the source, not on the replica. */
  | { readonly kind: 'missing'; readonly path: string; readonly source: FlatNode }
  /** On the replica, not on the source (with everything below it). */
  | { readonly kind: 'extra'; readonly path: string; readonly replica: FlatNode; readonly below: number }
  | { readonly kind: 'value'; readonly path: string; readonly source: string; readonly replica: string }
  /** A key on one side, a directory on the other. */
  | { readonly kind: 'type'; readonly path: string; readonly source: FlatNode; readonly replica: FlatNode };

export function differences(source: FlatTree, replica: FlatTree): Difference[] {
  const out: Difference[] = [];
  const typeChanged = new Set<string>();
  for (const operation of diff(source, replica)) {
    const path = operation.path;
    const want = source.get(path);
    const have = replica.get(path);
    if (operation.op === 'delete' && want !== undefined && have !== undefined) {
      typeChanged.add(path);
      out.push({ kind: 'type', path, source: want, replica: have });
    } else if (operation.op === 'delete' && have !== undefined) {
      const below = [...replica.keys()].filter((other) => other.startsWith(path + '/')).length;
      out.push({ kind: 'extra', path, replica: have, below });
    } else if (typeChanged.has(path)) {
      // The write that follows a type change: already told as "type".
    } else if (operation.op === 'put' && have !== undefined && !have.dir) {
      out.push({ kind: 'value', path, source: operation.value, replica: have.value });
    } else if (want !== undefined) {
      out.push({ kind: 'missing', path, source: want });
    }
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

const shown = (node: FlatNode): string => (node.dir ? '<dir>' : JSON.stringify(node.value));

/** One line per difference, with each side's full key. */
export function describeDifference(difference: Difference, sourceKey: (path: string) => string, replicaKey: (path: string) => string): string {
  const p = difference.path;
  switch (difference.kind) {
    case 'missing':
      return `missing  ${replicaKey(p)}: the source ${sourceKey(p)} holds ${shown(difference.source)}, the replica has nothing`;
    case 'extra':
      return `extra    ${replicaKey(p)}: the replica holds ${shown(difference.replica)}${difference.below > 0 ? ` and ${difference.below} nodes below it` : ''}, the source has nothing`;
    case 'value':
      return `value    ${replicaKey(p)}: the source holds ${JSON.stringify(difference.source)}, the replica ${JSON.stringify(difference.replica)}`;
    case 'type':
      return `type     ${replicaKey(p)}: the source holds ${shown(difference.source)}, the replica ${shown(difference.replica)}`;
  }
}
