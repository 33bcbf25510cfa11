// Resync: a consistent snapshot of the source prefix, diffed against the
// destination, and only the differences applied. Nothing is wiped first, so a
// resync that fails half-way leaves the replica as it was plus some correct
// updates (etcdmirror --reload deletes everything first).
import { isHiddenPath, relativeToPrefix } from './etcd/keys.js';
import type { EtcdNode } from './etcd/types.js';

export type FlatNode = { dir: true } | { dir: false; value: string };
/** A flattened tree: path relative to its root ("/a/b") → node content. */
export type FlatTree = ReadonlyMap<string, FlatNode>;

export type ResyncOperation =
  | { op: 'put'; path: string; value: string }
  | { op: 'mkdir'; path: string }
  | { op: 'delete'; path: string; recursive: boolean };

function isBelow(path: string, ancestor: string): boolean {
  return path.startsWith(ancestor + '/');
}

/**
 * Pure: the operations that turn `dest` into `source`, in the order to apply
 * them: first deletes of nodes whose type changed (file ↔ directory), then
 * creates and updates sorted by path, then deletes of nodes the source does
 * not have (outermost only: a recursive delete covers the children). Missing
 * non-empty directories are not created explicitly; their children's writes
 * create them (an explicit mkdir of an existing dir fails in etcd).
 */
export function diff(source: FlatTree, dest: FlatTree): ResyncOperation[] {
  const phases = diffPhases(source, dest);
  return [...phases.typeChanges, ...phases.writes, ...phases.extras];
}

/** The same operations in their three phases; operations within a phase are independent. */
export function diffPhases(
  source: FlatTree,
  dest: FlatTree,
): { typeChanges: ResyncOperation[]; writes: ResyncOperation[]; extras: ResyncOperation[] } {
  const typeChanges: ResyncOperation[] = [];
  const writes: ResyncOperation[] = [];
  const extras: ResyncOperation[] = [];

  const sourcePaths = [...source.keys()].sort();
  const hasSourceChild = new Set<string>();
  for (const path of sourcePaths) {
    const parent = path.slice(0, path.lastIndexOf('/'));
    if (parent !== '') hasSourceChild.add(parent);
  }
  // Destination subtrees removed wholesale; nothing below them exists afterwards.
  const gone: string[] = [];
  const isGone = (path: string): boolean => gone.some((dir) => path === dir || isBelow(path, dir));

  for (const path of sourcePaths) {
    const want = source.get(path);
    if (want === undefined) continue;
    let have = isGone(path) ? undefined : dest.get(path);
    if (have !== undefined && have.dir !== want.dir) {
      typeChanges.push({ op: 'delete', path, recursive: have.dir });
      gone.push(path);
      have = undefined;
    }
    if (want.dir) {
      if (have === undefined && !hasSourceChild.has(path)) writes.push({ op: 'mkdir', path });
    } else if (have === undefined || have.dir || have.value !== want.value) {
      writes.push({ op: 'put', path, value: want.value });
    }
  }
  for (const path of [...dest.keys()].sort()) {
    if (source.has(path) || isGone(path)) continue;
    const have = dest.get(path);
    extras.push({ op: 'delete', path, recursive: have?.dir === true });
    gone.push(path);
  }
  return { typeChanges, writes, extras };
}

/**
 * Flattens a recursive GET into a FlatTree relative to `root`, leaving out
 * hidden paths (any "_" segment; listings already omit them) and keys the
 * caller excludes (--src-ignore-keys-regex, tested on the source key).
 */
export function flatten(rootNode: EtcdNode | undefined, root: string, exclude: (relative: string) => boolean): Map<string, FlatNode> {
  const tree = new Map<string, FlatNode>();
  const visit = (node: EtcdNode): void => {
    // etcd omits "key" on the root node of a GET /v2/keys/.
    const key = typeof node.key === 'string' ? node.key : '/';
    const relative = relativeToPrefix(key, root);
    if (relative === undefined || isHiddenPath(relative)) return;
    if (relative !== '' && exclude(relative)) return;
    if (relative !== '') tree.set(relative, node.dir === true ? { dir: true } : { dir: false, value: node.value ?? '' });
    for (const child of node.nodes ?? []) visit(child);
  };
  if (rootNode !== undefined && rootNode.dir === true) visit(rootNode);
  return tree;
}
