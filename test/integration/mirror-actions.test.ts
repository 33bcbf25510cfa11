import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningMirror } from '../../mirror/main.js';
import { listing, mirrorOptions, runMirror, v2, waitConverged, waitFor, useSourceAndReplica } from './mirror-helpers.js';

describe('mirror replicates every v2 action', () => {
  const clusters = useSourceAndReplica();
  let mirror: RunningMirror;
  const converged = () => waitConverged(clusters.source.clientUrl, '/conftool', clusters.replica.clientUrl, '/replica/conftool');

  beforeAll(async () => {
    await v2(clusters.source.clientUrl, 'PUT', '/conftool/existing', { value: 'before-start' });
    mirror = await runMirror(mirrorOptions(clusters.source.clientUrl, clusters.replica.clientUrl));
  });
  afterAll(async () => {
    await mirror?.stop();
  });

  it('copies the prefix on --reload and records the source index', async () => {
    const copied = await converged();
    expect(copied['/existing']).toBe('before-start');
    await waitFor(async () => (await v2(clusters.replica.clientUrl, 'GET', '/__replication/replica')).status === 200);
    const index = await v2(clusters.replica.clientUrl, 'GET', '/__replication/replica');
    expect(Number((index.body.node as { value: string }).value)).toBeGreaterThan(0);
  });

  it('replicates set, create and in-order POST keys under their generated names', async () => {
    await v2(clusters.source.clientUrl, 'PUT', '/conftool/a', { value: '1' });
    await v2(clusters.source.clientUrl, 'PUT', '/conftool/b', { value: 'x', prevExist: 'false' });
    const posted = await v2(clusters.source.clientUrl, 'POST', '/conftool/queue', { value: 'job' });
    const result = await converged();
    const generated = (posted.body.node as { key: string }).key.slice('/conftool'.length);
    expect(result[generated]).toBe('job');
    expect(result['/a']).toBe('1');
  });

  it('replicates update (prevExist=true), which etcdmirror skipped', async () => {
    await v2(clusters.source.clientUrl, 'PUT', '/conftool/a', { value: '2', prevExist: 'true' });
    expect((await converged())['/a']).toBe('2');
  });

  it('replicates compareAndSwap by prevValue and by prevIndex', async () => {
    await v2(clusters.source.clientUrl, 'PUT', '/conftool/a', { value: '3', prevValue: '2' });
    const current = await v2(clusters.source.clientUrl, 'GET', '/conftool/a');
    const index = String((current.body.node as { modifiedIndex: number }).modifiedIndex);
    await v2(clusters.source.clientUrl, 'PUT', '/conftool/a', { value: '4', prevIndex: index });
    expect((await converged())['/a']).toBe('4');
  });

  it('replicates compareAndDelete, which etcdmirror skipped', async () => {
    await v2(clusters.source.clientUrl, 'DELETE', '/conftool/b', { prevValue: 'x' });
    expect((await converged())['/b']).toBeUndefined();
  });

  it('replicates directories, deletes of keys and recursive deletes of directories', async () => {
    await v2(clusters.source.clientUrl, 'PUT', '/conftool/emptydir', { dir: 'true' });
    await v2(clusters.source.clientUrl, 'PUT', '/conftool/tree/x/y', { value: 'deep' });
    await v2(clusters.source.clientUrl, 'PUT', '/conftool/tree/z', { value: 'z' });
    let result = await converged();
    expect(result['/emptydir']).toBe('<dir>');
    expect(result['/tree/x/y']).toBe('deep');
    await v2(clusters.source.clientUrl, 'DELETE', '/conftool/a');
    await v2(clusters.source.clientUrl, 'DELETE', '/conftool/tree', { recursive: 'true' });
    await v2(clusters.source.clientUrl, 'DELETE', '/conftool/emptydir', { dir: 'true' });
    result = await converged();
    expect(result['/tree/z']).toBeUndefined();
    expect(result['/emptydir']).toBeUndefined();
  });

  it('writes TTL keys without a TTL and deletes them on the source expire event', async () => {
    await v2(clusters.source.clientUrl, 'PUT', '/conftool/ephemeral', { value: 'e', ttl: '2' });
    await v2(clusters.source.clientUrl, 'PUT', '/conftool/ttldir', { dir: 'true', ttl: '2' });
    await waitFor(async () => (await listing(clusters.replica.clientUrl, '/replica/conftool'))['/ephemeral'] === 'e');
    const replicated = await v2(clusters.replica.clientUrl, 'GET', '/replica/conftool/ephemeral');
    expect((replicated.body.node as { ttl?: number }).ttl).toBeUndefined();
    // etcd expires keys on a 500 ms tick, so the two may expire a tick apart: wait
    // until the source has expired both, then for the copies to be gone too.
    await waitFor(async () => {
      const source = await listing(clusters.source.clientUrl, '/conftool');
      return source['/ephemeral'] === undefined && source['/ttldir'] === undefined;
    }, 10_000);
    const result = await converged();
    expect(result['/ephemeral']).toBeUndefined();
    expect(result['/ttldir']).toBeUndefined();
  });

  it('does not replicate hidden keys', async () => {
    await v2(clusters.source.clientUrl, 'PUT', '/conftool/_hidden', { value: 'h' });
    await v2(clusters.source.clientUrl, 'PUT', '/conftool/visible', { value: 'v' });
    await converged();
    expect((await v2(clusters.replica.clientUrl, 'GET', '/replica/conftool/_hidden')).status).toBe(404);
  });
});
