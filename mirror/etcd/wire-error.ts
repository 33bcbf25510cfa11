// The one shape every etcd v2 error has on the wire (etcd's error/error.go),
// shared by the proxy (which writes them) and the mirror (which reads them).
// No Fastify or HTTP imports here: both programs use this module.

export interface EtcdWireError {
  readonly errorCode: number;
  readonly message: string;
  readonly cause: string;
  readonly index: number;
}

/** etcd v2 error codes this project writes or reacts to (etcd error/error.go). */
export const EtcdErrorCode = {
  KeyNotFound: 100,
  TestFailed: 101,
  NotFile: 102,
  NotDir: 104,
  NodeExist: 105,
  RootReadOnly: 107,
  DirNotEmpty: 108,
  Unauthorized: 110,
  InvalidForm: 209,
  RaftInternal: 300,
  LeaderElect: 301,
  WatcherCleared: 400,
  EventIndexCleared: 401,
} as const;

export function isEtcdWireError(value: unknown): value is EtcdWireError {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Record<string, unknown>;
  return typeof candidate.errorCode === 'number' && typeof candidate.message === 'string';
}

/**
 * Serialises with etcd's field order so bodies are byte-compatible with the
 * ones production clients (python-etcd, confd) already parse.
 */
export function serializeWireError(error: EtcdWireError): string {
  return JSON.stringify({
    errorCode: error.errorCode,
    message: error.message,
    cause: error.cause,
    index: error.index,
  });
}
