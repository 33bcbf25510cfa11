// Typed shapes of etcd v2 keys API responses (etcd store/event.go, node_extern.go).

export interface EtcdNode {
  key: string;
  value?: string;
  dir?: boolean;
  ttl?: number;
  expiration?: string;
  nodes?: EtcdNode[];
  modifiedIndex: number;
  createdIndex: number;
}

/** Every action etcd v2 emits (store/event.go). */
export const etcdActions = [
  'get',
  'create',
  'set',
  'update',
  'delete',
  'compareAndSwap',
  'compareAndDelete',
  'expire',
] as const;
export type EtcdAction = (typeof etcdActions)[number];

export interface EtcdEvent {
  action: EtcdAction;
  node: EtcdNode;
  prevNode?: EtcdNode;
}

/** An event as a watch delivers it, its action not yet checked against EtcdAction. */
export interface RawEvent {
  action: string;
  node: EtcdNode;
  prevNode?: EtcdNode;
}

export function isEtcdAction(value: unknown): value is EtcdAction {
  return typeof value === 'string' && (etcdActions as readonly string[]).includes(value);
}

function isNode(value: unknown): value is EtcdNode {
  if (typeof value !== 'object' || value === null) return false;
  const node = value as Record<string, unknown>;
  return typeof node.key === 'string' || node.key === undefined;
}

/**
 * Validates an event body. The action is checked against the known set by the
 * caller (an unknown action is fatal for the mirror, not a parse error), so
 * here it only has to be a string.
 */
export function parseEventBody(value: unknown): RawEvent | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const body = value as Record<string, unknown>;
  if (typeof body.action !== 'string' || !isNode(body.node)) return undefined;
  const node = body.node;
  const prevNode = isNode(body.prevNode) ? body.prevNode : undefined;
  return prevNode === undefined ? { action: body.action, node } : { action: body.action, node, prevNode };
}
