// etcd's v3 gRPC methods, read from etcd's own .proto files: for each, its
// request and response message types, whether each side streams, and the
// grpc-gateway paths that reach it (the google.api.http options in
// rpc.proto). Nothing here is typed by hand, so a method the .proto files do
// not define is unknown, and unknown methods are admin-only.
import type protobuf from 'protobufjs';
import { etcdProtoRoot } from '../../mirror/etcd/v3/proto.js';

export interface EtcdMethod {
  /** The HTTP/2 :path of the call, e.g. /etcdserverpb.KV/Range. */
  readonly path: string;
  /** Service/Method, e.g. KV/Range: what logs and metrics show. */
  readonly name: string;
  readonly requestType: protobuf.Type;
  readonly responseType: protobuf.Type;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
  /** Gateway paths under /v3/, e.g. /v3/kv/range (additional bindings included). */
  readonly gatewayPaths: readonly string[];
}

const services = ['KV', 'Watch', 'Lease', 'Cluster', 'Maintenance', 'Auth'];

export interface EtcdMethodTable {
  /** By gRPC :path. */
  readonly byPath: ReadonlyMap<string, EtcdMethod>;
  /** By gateway path (/v3/...). */
  readonly byGatewayPath: ReadonlyMap<string, EtcdMethod>;
}

let table: EtcdMethodTable | undefined;

export function etcdMethods(): EtcdMethodTable {
  if (table !== undefined) return table;
  const root = etcdProtoRoot();
  const byPath = new Map<string, EtcdMethod>();
  const byGatewayPath = new Map<string, EtcdMethod>();
  for (const serviceName of services) {
    const service = root.lookupService(`etcdserverpb.${serviceName}`);
    for (const method of service.methodsArray) {
      method.resolve();
      const entry: EtcdMethod = {
        path: `/etcdserverpb.${serviceName}/${method.name}`,
        name: `${serviceName}/${method.name}`,
        requestType: root.lookupType(`etcdserverpb.${method.requestType}`),
        responseType: root.lookupType(`etcdserverpb.${method.responseType}`),
        requestStream: method.requestStream === true,
        responseStream: method.responseStream === true,
        gatewayPaths: gatewayPathsOf(method),
      };
      byPath.set(entry.path, entry);
      // grpc-gateway tries the most recently registered pattern first, so
      // when two methods share a path (Hash and HashKV on
      // /v3/maintenance/hash) the later one in the file is what etcd runs.
      for (const gatewayPath of entry.gatewayPaths) byGatewayPath.set(gatewayPath, entry);
    }
  }
  table = { byPath, byGatewayPath };
  return table;
}

/** The `post:` paths of a method's google.api.http option, as protobufjs parses it. */
function gatewayPathsOf(method: protobuf.Method): string[] {
  const paths: string[] = [];
  for (const option of method.parsedOptions ?? []) {
    if (typeof option !== 'object' || option === null) continue;
    const http: unknown = (option as Record<string, unknown>)['(google.api.http)'];
    collectPosts(http, paths);
  }
  return paths;
}

function collectPosts(binding: unknown, into: string[]): void {
  if (typeof binding !== 'object' || binding === null) return;
  const fields = binding as Record<string, unknown>;
  if (typeof fields.post === 'string') into.push(fields.post);
  const additional = fields.additional_bindings;
  for (const more of Array.isArray(additional) ? additional : [additional]) collectPosts(more, into);
}
