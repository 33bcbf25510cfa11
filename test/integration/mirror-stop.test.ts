// A strictness stop you can scrape: the mirror process (standalone, and
// bundled in the proxy) stays up in state `stopped`, its status port saying
// why, and replicates nothing more until it is restarted.
import { describe, expect, it } from 'vitest';
import { freePort } from '../fixtures/etcd.js';
import { startMirrorProcess } from '../fixtures/mirror-process.js';
import { startProxy } from '../fixtures/proxy.js';
import { listing, useSourceAndReplica, v2, waitConverged, waitFor } from './mirror-helpers.js';
import { runCli } from './ops-helpers.js';

interface StopReport {
  state: string;
  stop?: { key: string; source: string; replica: string; index: number; action: string; reason: string };
}

async function statusOf(statusUrl: string): Promise<StopReport> {
  return (await (await fetch(`${statusUrl}/status`)).json()) as StopReport;
}

describe('a strictness stop', () => {
  const clusters = useSourceAndReplica();

  /** Replicates /prefix, then edits the replica behind the mirror and changes the key on the source: returns that change's index. */
  async function divergeUnder(prefix: string): Promise<number> {
    await waitConverged(clusters.source.clientUrl, prefix, clusters.replica.clientUrl, prefix);
    await v2(clusters.replica.clientUrl, 'PUT', `${prefix}/k`, { value: 'hand-edited' });
    const change = await v2(clusters.source.clientUrl, 'PUT', `${prefix}/k`, { value: 'two' });
    return (change.body.node as { modifiedIndex: number }).modifiedIndex;
  }

  it('keeps the standalone mirror up in state stopped: /status and mirror-status give the key, both values and the index; nothing more is replicated; SIGTERM exits 0', async () => {
    await v2(clusters.source.clientUrl, 'PUT', '/held/k', { value: 'one' });
    const mirror = startMirrorProcess(['--reload', '--src-prefix', '/held', '--dst-prefix', '/held', '--strip', '--port', '0', '--status-host', '127.0.0.1', clusters.source.clientUrl, clusters.replica.clientUrl]);
    try {
      const statusUrl = await mirror.statusUrl();
      const index = await divergeUnder('/held');
      await mirror.waitForLine((line) => line.msg?.startsWith('replication stopped and stays stopped') === true);
      const report = await statusOf(statusUrl);
      expect(report).toMatchObject({ state: 'stopped', stop: { key: '/held/k', index, action: 'set' } });
      expect(report.stop?.source).toContain('"one"');
      expect(report.stop?.replica).toContain('"hand-edited"');
      expect(await (await fetch(`${statusUrl}/metrics`)).text()).toMatch(/^etcd_warden_mirror_state\{state="stopped"\} 1$/m);

      const shown = await runCli(['mirror-status', statusUrl]);
      expect(shown.code).toBe(1);
      expect(shown.stdout).toMatch(/state\s+stopped/);
      expect(shown.stdout).toMatch(/key\s+\/held\/k/);
      expect(shown.stdout).toMatch(/source held before\s+.*"one"/);
      expect(shown.stdout).toMatch(/replica holds\s+.*"hand-edited"/);
      expect(shown.stdout).toMatch(new RegExp(`at source index\\s+${index} \\(set\\)`));

      await v2(clusters.source.clientUrl, 'PUT', '/held/later', { value: 'not replicated' });
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect(mirror.child.exitCode).toBeNull();
      expect((await listing(clusters.replica.clientUrl, '/held'))['/later']).toBeUndefined();
    } finally {
      expect(await mirror.stop()).toBe(0);
    }
  });

  it('keeps the bundled mirror up in state stopped too, and the proxy does not restart it', async () => {
    await v2(clusters.source.clientUrl, 'PUT', '/bheld/k', { value: 'one' });
    const port = await freePort();
    const proxy = await startProxy({
      upstream: clusters.replica.clientUrl,
      config: { acls: { '/': [] }, readOnly: true, mirror: { src: clusters.source.clientUrl, srcPrefix: '/bheld', port, reload: true } },
    });
    try {
      const index = await divergeUnder('/bheld');
      const statusUrl = `http://127.0.0.1:${port}`;
      await waitFor(async () => (await statusOf(statusUrl)).state === 'stopped', 15_000, 'the bundled mirror to stop');
      expect(await statusOf(statusUrl)).toMatchObject({ stop: { key: '/bheld/k', index } });
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      expect(proxy.logs().filter((line) => line.msg === 'bundled mirror exited; restarting')).toEqual([]);
      expect((await statusOf(statusUrl)).state).toBe('stopped');
      expect((await runCli(['mirror-status', statusUrl])).stdout).toContain('replication stays stopped until the mirror is restarted');
    } finally {
      expect(await proxy.stop()).toBe(0);
    }
  });
});
