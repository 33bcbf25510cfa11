// etcd's own v3 API definitions (etcdserverpb, mvccpb, authpb), read from the
// .proto files the `etcd3` registry package ships, never copied into this
// repository. Shared by the proxy (which decodes every client message to
// decide on it) and the mirror (which speaks gRPC to both clusters).
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import protobuf from 'protobufjs';

/** The folder holding rpc.proto, kv.proto and auth.proto. */
export function etcdProtoDirectory(): string {
  // etcd3's `main` is lib/index.js; its proto/ folder sits beside lib/.
  const main = createRequire(import.meta.url).resolve('etcd3');
  return join(dirname(main), '..', 'proto');
}

/** The file that defines every etcd v3 service (it imports the other two). */
export function etcdRpcProtoFile(): string {
  return join(etcdProtoDirectory(), 'rpc.proto');
}

let loaded: protobuf.Root | undefined;

/**
 * Every etcd v3 message and service, field names as in the .proto files
 * (`range_end`, not `rangeEnd`), loaded once per process.
 */
export function etcdProtoRoot(): protobuf.Root {
  if (loaded !== undefined) return loaded;
  const directory = etcdProtoDirectory();
  const root = new protobuf.Root();
  // rpc.proto imports "./kv.proto" and "./auth.proto": resolve them beside it.
  root.resolvePath = (_origin, target) => join(directory, target.replace(/^\.\//, ''));
  root.loadSync('rpc.proto', { keepCase: true });
  root.resolveAll();
  loaded = root;
  return root;
}
