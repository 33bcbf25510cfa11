import { describe, expect, it } from 'vitest';
import { capturedLogger, listing, mirrorOptions, runMirror, v2, waitConverged, waitFor, useSourceAndReplica } from './mirror-helpers.js';

describe('mirror options, strictness and status', () => {
  const clusters = useSourceAndReplica();


  it('--strip with --dst-prefix rewrites the prefix by path segments', async () => {
    await v2(clusters.source.clientUrl, 'PUT', '/strip/a', { value: '1' });
    await v2(clusters.source.clientUrl, 'PUT', '/stripped/not-mine', { value: 'x' });
    const mirror = await runMirror(mirrorOptions(clusters.source.clientUrl, clusters.replica.clientUrl, { srcPrefix: '/strip', dstPrefix: '/dc2/conf', strip: true }));
    try {
      await v2(clusters.source.clientUrl, 'PUT', '/strip/b/strip/c', { value: '2' });
      const result = await waitConverged(clusters.source.clientUrl, '/strip', clusters.replica.clientUrl, '/dc2/conf');
      expect(result['/b/strip/c']).toBe('2');
      expect((await v2(clusters.replica.clientUrl, 'GET', '/dc2/conf/b/strip/c')).status).toBe(200);
      expect((await v2(clusters.replica.clientUrl, 'GET', '/dc2/confped/not-mine')).status).toBe(404);
      expect((await v2(clusters.replica.clientUrl, 'GET', '/__replication/dc2/conf')).status).toBe(200);
    } finally {
      await mirror.stop();
    }
  });

  it('--src-ignore-keys-regex skips matching keys and still advances the index', async () => {
    const mirror = await runMirror(
      mirrorOptions(clusters.source.clientUrl, clusters.replica.clientUrl, { srcPrefix: '/ign', dstPrefix: '/ignr', srcIgnoreKeysRegex: /^\/ign\/tmp(\/|$)/ }),
    );
    try {
      await v2(clusters.source.clientUrl, 'PUT', '/ign/keep', { value: 'k' });
      await v2(clusters.source.clientUrl, 'PUT', '/ign/tmp/x', { value: 'skip me' });
      const last = await v2(clusters.source.clientUrl, 'PUT', '/ign/tmp/y', { value: 'skip me too' });
      const lastIndex = (last.body.node as { modifiedIndex: number }).modifiedIndex;
      await waitFor(async () => {
        const recorded = await v2(clusters.replica.clientUrl, 'GET', '/__replication/ignr');
        return Number((recorded.body.node as { value: string }).value) >= lastIndex;
      });
      expect(await listing(clusters.replica.clientUrl, '/ignr/ign')).toEqual({ '/keep': 'k' });
    } finally {
      await mirror.stop();
    }
  });

  it('stops with an error naming the key, both values and the index when the replica was edited by hand', async () => {
    const { logger, lines } = capturedLogger();
    const mirror = await runMirror(mirrorOptions(clusters.source.clientUrl, clusters.replica.clientUrl, { srcPrefix: '/strict', dstPrefix: '/st' }), logger);
    await v2(clusters.source.clientUrl, 'PUT', '/strict/k', { value: 'one' });
    await waitConverged(clusters.source.clientUrl, '/strict', clusters.replica.clientUrl, '/st/strict');
    await v2(clusters.replica.clientUrl, 'PUT', '/st/strict/k', { value: 'hand-edited' });
    const change = await v2(clusters.source.clientUrl, 'PUT', '/strict/k', { value: 'two' });
    const index = (change.body.node as { modifiedIndex: number }).modifiedIndex;
    const exit = await mirror.done;
    const metrics = await (await fetch(`http://127.0.0.1:${mirror.statusPort}/metrics`)).text();
    await mirror.stop();
    expect(exit.code).toBe(1);
    expect(exit.reason).toContain('/st/strict/k');
    expect(exit.reason).toContain('"one"');
    expect(exit.reason).toContain('"hand-edited"');
    expect(exit.reason).toContain(String(index));
    expect(lines.some((line) => line.level === 50 && line.key === '/st/strict/k' && line.index === index)).toBe(true);
    expect(metrics).toMatch(/etcd_warden_mirror_strict_failures_total 1/);
    expect(metrics).toMatch(/etcd_warden_mirror_state\{state="stopped"\} 1/);
    // The replica is left as it was: the mirror does not overwrite a divergence.
    expect((await listing(clusters.replica.clientUrl, '/st/strict'))['/k']).toBe('hand-edited');
  });

  it('serves /lag and /metrics with etcdmirror\'s names and ours', async () => {
    const mirror = await runMirror(mirrorOptions(clusters.source.clientUrl, clusters.replica.clientUrl, { srcPrefix: '/stat', dstPrefix: '/statr' }));
    try {
      await waitFor(async () => (await v2(clusters.replica.clientUrl, 'GET', '/__replication/statr')).status === 200);
      await v2(clusters.source.clientUrl, 'PUT', '/stat/a', { value: '1' });
      await waitConverged(clusters.source.clientUrl, '/stat', clusters.replica.clientUrl, '/statr/stat');
      await waitFor(async () => (await (await fetch(`http://127.0.0.1:${mirror.statusPort}/lag`)).text()) === '0');
      const metrics = await (await fetch(`http://127.0.0.1:${mirror.statusPort}/metrics`)).text();
      for (const name of [
        'etcdmirror_replicated_events_total 1',
        'etcdmirror_lag 0',
        'etcdmirror_write_latency_bucket',
        'etcdmirror_write_latency_sum',
        'etcdmirror_write_latency_count 1',
        'etcdmirror_load_time_count 1',
        'etcd_warden_mirror_last_replicated_index',
        'etcd_warden_mirror_source_index',
        'etcd_warden_mirror_seconds_since_source_contact',
        'etcd_warden_mirror_resyncs_total{reason="reload"} 1',
        'etcd_warden_mirror_state{state="replicating"} 1',
        'etcd_warden_mirror_strict_failures_total 0',
      ]) {
        expect(metrics).toContain(name);
      }
      expect(metrics).not.toContain('process_cpu'); // a dedicated registry, not the global one
    } finally {
      await mirror.stop();
    }
  });
});
