// Where the replicated source index lives in the destination: exactly where
// etcdmirror keeps it ('/__replication' + prefix), so either tool can take
// over from the other. The root prefix gets a name because "/__replication/"
// would address the directory itself. `/__replication` is hidden (leading
// underscore), so recursive listings and snapshots of "/" never include it.
export function replicationIndexKey(dstPrefix: string): string {
  return dstPrefix === '/' ? '/__replication/__ROOT__' : `/__replication${dstPrefix}`;
}
