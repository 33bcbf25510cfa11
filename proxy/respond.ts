// The one writer of the proxy's own answers: etcd-shaped JSON, with the
// cluster id when known (python-etcd warns on every response without it).
import type { ServerResponse } from 'node:http';
import { serializeWireError } from '../mirror/etcd/wire-error.js';
import type { ProxyError } from './errors.js';

/** Writes the whole answer and returns the body's size in bytes, for the access log. */
export function writeProxyError(client: ServerResponse, error: ProxyError, clusterId: string | undefined): number {
  const body = serializeWireError(error.body) + '\n';
  const bytes = Buffer.byteLength(body);
  client.writeHead(error.status, {
    'content-type': 'application/json',
    'content-length': String(bytes),
    ...(clusterId === undefined ? {} : { 'x-etcd-cluster-id': clusterId }),
    ...error.headers,
  });
  client.end(body);
  return bytes;
}
