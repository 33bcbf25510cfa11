// The bench's files (certificate, htpasswd, configs, logs, profiles) live in
// one temp dir, removed at the end whatever happened.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onCleanup } from './cleanup.js';

export async function makeWorkspace(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'etcd-warden-bench-'));
  // Registered first, so it runs last: after every process writing into it has stopped.
  onCleanup(`temp dir ${dir}`, () => rm(dir, { recursive: true, force: true }));
  return dir;
}
