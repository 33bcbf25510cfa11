// Where config/load.ts reads the files a config points at (the YAML, the
// htpasswd file, certificates and keys). Normally the disk; in a cluster of
// proxy processes the primary reads and validates them once, recording the
// exact bytes, and every worker loads that record instead of the disk, so a
// file changed between two reads cannot leave workers on different configs
// (proxy/cluster/).

/** Reads one file; rejects like fs.readFile does when it cannot. */
export type FileSource = (path: string) => Promise<Buffer>;

/** Every file a load read, by path: what the primary hands its workers. */
export type FileSnapshot = ReadonlyMap<string, Buffer>;

/** Reads the disk and remembers what it read, for the snapshot. */
export function recordingSource(read: FileSource): { readonly source: FileSource; readonly snapshot: () => FileSnapshot } {
  const seen = new Map<string, Buffer>();
  return {
    source: async (path) => {
      const bytes = await read(path);
      seen.set(path, bytes);
      return bytes;
    },
    snapshot: () => new Map(seen),
  };
}

/** Reads only from a snapshot: a file it does not hold fails as a missing file would. */
export function snapshotSource(snapshot: FileSnapshot): FileSource {
  return (path) => {
    const bytes = snapshot.get(path);
    if (bytes !== undefined) return Promise.resolve(bytes);
    return Promise.reject(Object.assign(new Error(`${path} is not among the files the primary validated`), { code: 'ENOENT' }));
  };
}
