import { describe, expect, it } from 'vitest';
import { capturedLogger, mirrorOptions, runMirror, v2, waitConverged, waitFor, useSourceAndReplica } from './mirror-helpers.js';

async function writeMany(base: string, prefix: string, count: number): Promise<void> {
  for (let i = 0; i < count; i += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, count - i) }, (_, j) => v2(base, 'PUT', `${prefix}/k${(i + j) % 200}`, { value: String(i + j) })),
    );
  }
}

describe('mirror keeps its place in the source history', () => {
  const clusters = useSourceAndReplica();


  it('survives 1,100 writes outside a quiet prefix (the 2024-02-28 incident) without a resync', async () => {
    await v2(clusters.source.clientUrl, 'PUT', '/quiet/first', { value: '1' });
    const options = mirrorOptions(clusters.source.clientUrl, clusters.replica.clientUrl, { srcPrefix: '/quiet', dstPrefix: '/inc', idleRenewMs: 300 });
    const first = capturedLogger();
    let mirror = await runMirror(options, first.logger);
    await waitConverged(clusters.source.clientUrl, '/quiet', clusters.replica.clientUrl, '/inc/quiet');
    // Writes elsewhere in the cluster slide the 1000-event history past the
    // last event under /quiet. Idle renewals carry the index along.
    await writeMany(clusters.source.clientUrl, '/busy', 1_100);
    const busyIndex = Number((await fetch(`${clusters.source.clientUrl}/v2/keys/busy/k0`)).headers.get('x-etcd-index'));
    await waitFor(async () => {
      const recorded = await v2(clusters.replica.clientUrl, 'GET', '/__replication/inc');
      return Number((recorded.body.node as { value: string }).value) >= busyIndex;
    }, 10_000, 'the recorded index to follow the busy cluster');
    // A restart re-issues the watch from the recorded index: this is where
    // etcdmirror fell out of the history.
    await mirror.stop();
    const second = capturedLogger();
    mirror = await runMirror({ ...options, reload: false }, second.logger);
    try {
      await v2(clusters.source.clientUrl, 'PUT', '/quiet/second', { value: '2' });
      const result = await waitConverged(clusters.source.clientUrl, '/quiet', clusters.replica.clientUrl, '/inc/quiet');
      expect(result['/second']).toBe('2');
      const resyncs = [...first.lines, ...second.lines].filter((line) => line.msg === 'resync starting' && line.reason === 'index_cleared');
      expect(resyncs).toHaveLength(0);
    } finally {
      await mirror.stop();
    }
  });

  it('re-anchors a quiet prefix during 2,000 writes elsewhere in about a second, faster than its idle renewal: no resync', async () => {
    await v2(clusters.source.clientUrl, 'PUT', '/calm/first', { value: '1' });
    const { logger, lines } = capturedLogger();
    const mirror = await runMirror(mirrorOptions(clusters.source.clientUrl, clusters.replica.clientUrl, { srcPrefix: '/calm', dstPrefix: '/calmr', idleRenewMs: 3_000 }), logger);
    try {
      await waitConverged(clusters.source.clientUrl, '/calm', clusters.replica.clientUrl, '/calmr/calm');
      // The 2024-02-28 shape, twice over, in less than one renewal period:
      // the renewal after it re-opens the watch, from wherever the mirror's
      // place is by then. Without following the cluster index that place is
      // out of the 1000-event history and the renewal resyncs.
      await writeMany(clusters.source.clientUrl, '/storm', 2_000);
      const stormIndex = Number((await fetch(`${clusters.source.clientUrl}/v2/keys/storm/k0`)).headers.get('x-etcd-index'));
      await waitFor(async () => {
        const recorded = await v2(clusters.replica.clientUrl, 'GET', '/__replication/calmr');
        return Number((recorded.body.node as { value: string }).value) >= stormIndex;
      }, 15_000, 'the idle renewal after the burst');
      await v2(clusters.source.clientUrl, 'PUT', '/calm/after', { value: 'inside' });
      const result = await waitConverged(clusters.source.clientUrl, '/calm', clusters.replica.clientUrl, '/calmr/calm');
      expect(result['/after']).toBe('inside');
      const metrics = await (await fetch(`http://127.0.0.1:${mirror.statusPort}/metrics`)).text();
      expect(metrics).toContain('etcd_warden_mirror_resyncs_total{reason="index_cleared"} 0');
      expect(lines.filter((line) => line.msg === 'resync starting' && line.reason === 'index_cleared')).toHaveLength(0);
      expect(lines.some((line) => line.msg === 'watch re-anchored: the source cluster moved far beyond the prefix')).toBe(true);
    } finally {
      await mirror.stop();
    }
  });

  it('heals a really lost index with a resync that applies only the differences', async () => {
    const options = mirrorOptions(clusters.source.clientUrl, clusters.replica.clientUrl, { srcPrefix: '/lost', dstPrefix: '/heal' });
    await v2(clusters.source.clientUrl, 'PUT', '/lost/keep', { value: 'same' });
    await v2(clusters.source.clientUrl, 'PUT', '/lost/gone', { value: 'bye' });
    let mirror = await runMirror(options);
    await waitConverged(clusters.source.clientUrl, '/lost', clusters.replica.clientUrl, '/heal/lost');
    await mirror.stop();
    const before = await v2(clusters.replica.clientUrl, 'GET', '/heal/lost/keep');

    // While the mirror is down, more than 1000 events happen inside the prefix.
    await writeMany(clusters.source.clientUrl, '/lost/many', 1_050);
    await v2(clusters.source.clientUrl, 'DELETE', '/lost/gone');
    await v2(clusters.source.clientUrl, 'PUT', '/lost/dir/new', { value: 'n' });

    const { logger, lines } = capturedLogger();
    mirror = await runMirror({ ...options, reload: false }, logger);
    try {
      await waitFor(async () => lines.some((line) => line.msg === 'resync done'), 20_000, 'resync');
      await waitConverged(clusters.source.clientUrl, '/lost', clusters.replica.clientUrl, '/heal/lost');
      // Unchanged keys were not rewritten (nothing wiped first).
      const after = await v2(clusters.replica.clientUrl, 'GET', '/heal/lost/keep');
      expect((after.body.node as { modifiedIndex: number }).modifiedIndex).toBe((before.body.node as { modifiedIndex: number }).modifiedIndex);
      // Replication resumes after the snapshot.
      await v2(clusters.source.clientUrl, 'PUT', '/lost/after', { value: 'a' });
      expect((await waitConverged(clusters.source.clientUrl, '/lost', clusters.replica.clientUrl, '/heal/lost'))['/after']).toBe('a');
      const metrics = await (await fetch(`http://127.0.0.1:${mirror.statusPort}/metrics`)).text();
      expect(metrics).toMatch(/etcd_warden_mirror_resyncs_total\{reason="index_cleared"\} 1/);
    } finally {
      await mirror.stop();
    }
  });

  it('with --on-index-cleared=exit stops with a clear message instead', async () => {
    const options = mirrorOptions(clusters.source.clientUrl, clusters.replica.clientUrl, { srcPrefix: '/lost2', dstPrefix: '/exit' });
    await v2(clusters.source.clientUrl, 'PUT', '/lost2/a', { value: '1' });
    let mirror = await runMirror(options);
    await waitConverged(clusters.source.clientUrl, '/lost2', clusters.replica.clientUrl, '/exit/lost2');
    await mirror.stop();
    await writeMany(clusters.source.clientUrl, '/lost2/many', 1_050);
    mirror = await runMirror({ ...options, reload: false, onIndexCleared: 'exit' });
    const exit = await mirror.done;
    await mirror.stop();
    expect(exit.code).toBe(1);
    expect(exit.reason).toMatch(/history no longer holds index/);
  });
});
