// The mirror's command line in each mode, as operators run it: the real CLI
// for `mirror --api v3` and `--src-api v2 --dst-api v3`, mirror-status and
// mirror-verify on them, the bundled v3 mirror, and mirror-verify given the
// unit's own arguments from its EnvironmentFile.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { freePort } from '../fixtures/etcd.js';
import { startMirrorProcess } from '../fixtures/mirror-process.js';
import { startProxy } from '../fixtures/proxy.js';
import { capturedLogger, mirrorOptions, runMirror, useSourceAndReplica, v2, waitConverged, waitFor } from './mirror-helpers.js';
import { recorded, useV3Clients, v3Listing, waitV3Converged } from './mirror-v3-helpers.js';
import { runCli } from './ops-helpers.js';

/** The unit's EnvironmentFile, as systemd reads it: NAME=value lines. */
function environmentFile(): Record<string, string> {
  const text = readFileSync(new URL('../../deploy/etcd-warden-mirror.env.example', import.meta.url), 'utf8');
  return Object.fromEntries(text.split('\n').filter((line) => /^[A-Z_]+=/.test(line)).map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
}

describe('the mirror command line, mode by mode', () => {
  const clusters = useSourceAndReplica();
  const clients = useV3Clients(clusters);
  const status = ['--port', '0', '--status-host', '127.0.0.1'];

  it('mirror-verify takes the unit\'s $ETCD_WARDEN_MIRROR_ARGS as they are, flags for a running mirror included', async () => {
    const args = (environmentFile().ETCD_WARDEN_MIRROR_ARGS ?? '').split(/\s+/);
    expect(args).toContain('--port');
    await v2(clusters.source.clientUrl, 'PUT', '/conftool/pools/eqiad/mw1', { value: 'pooled' });
    const mirror = await runMirror(mirrorOptions(clusters.source.clientUrl, clusters.replica.clientUrl, { srcPrefix: '/conftool', dstPrefix: '/conftool', strip: true }), capturedLogger('silent').logger);
    try {
      await waitConverged(clusters.source.clientUrl, '/conftool', clusters.replica.clientUrl, '/conftool');
      const env = { ETCD_WARDEN_MIRROR_SRC: clusters.source.clientUrl, ETCD_WARDEN_MIRROR_DST: clusters.replica.clientUrl };
      const verify = await runCli(['mirror-verify', ...args, '--reload', '--on-index-cleared', 'exit', '--idle-renew-ms', '500', '--log-level', 'debug', '--status-host', '0.0.0.0'], env);
      expect(verify.stderr).toBe('');
      expect(verify.stdout).toContain('equal: the replica holds exactly what the source holds');
      expect(verify.code).toBe(0);
    } finally {
      await mirror.stop();
    }
  });

  it('mirror --api v3 replicates a v3 prefix; mirror-status says api v3 and counts revisions; mirror-verify --api v3 compares', async () => {
    await clients.source.put('/cli3/a').value('1');
    const mirror = startMirrorProcess(['--api', 'v3', '--reload', '--src-prefix', '/cli3', '--dst-prefix', '/cli3r', ...status, clusters.source.clientUrl, clusters.replica.clientUrl]);
    try {
      await clients.source.put('/cli3/b').value('2');
      await waitV3Converged(clients, '/cli3/', '/cli3r/cli3/');
      const statusUrl = await mirror.statusUrl();
      await waitFor(async () => (await (await fetch(`${statusUrl}/lag`)).text()) === '0', 15_000, 'lag 0');
      const shown = await runCli(['mirror-status', statusUrl]);
      expect(shown.stdout).toMatch(/api\s+v3/);
      expect(shown.stdout).toMatch(/last replicated revision\s+\d+/);
      expect(shown.code).toBe(0);
      const json = JSON.parse((await runCli(['mirror-status', '--json', statusUrl])).stdout) as { api: string; state: string; lastReplicatedIndex: number };
      expect(json).toMatchObject({ api: 'v3', state: 'replicating' });
      expect(json.lastReplicatedIndex).toBe(await recorded(clients.replica, '__etcd_warden/replication/cli3r'));

      const flags = ['--api', 'v3', '--src-prefix', '/cli3', '--dst-prefix', '/cli3r'];
      const equal = await runCli(['mirror-verify', ...flags, clusters.source.clientUrl, clusters.replica.clientUrl]);
      expect(equal.stdout).toMatch(/source  http:\/\/127\.0\.0\.1:\d+ \/cli3: 2 keys at revision \d+/);
      expect(equal.code).toBe(0);
      await mirror.stop();
      await clients.replica.put('/cli3r/cli3/a').value('edited');
      const different = await runCli(['mirror-verify', ...flags, '--wait-ms', '0', clusters.source.clientUrl, clusters.replica.clientUrl]);
      expect(different.stdout).toContain('value    /cli3r/cli3/a: the source holds "1", the replica "edited"');
      expect(different.code).toBe(1);
    } finally {
      await mirror.stop();
    }
  });

  it('mirror --src-api v2 --dst-api v3 migrates a v2 prefix into v3 keys; mirror-verify with the same flags compares across the APIs', async () => {
    await v2(clusters.source.clientUrl, 'PUT', '/cli23/dir/a', { value: 'x' });
    const flags = ['--src-api', 'v2', '--dst-api', 'v3', '--src-prefix', '/cli23', '--dst-prefix', '/cli23', '--strip'];
    const mirror = startMirrorProcess([...flags, '--reload', ...status, clusters.source.clientUrl, clusters.replica.clientUrl]);
    try {
      await v2(clusters.source.clientUrl, 'PUT', '/cli23/b', { value: 'y' });
      await waitFor(async () => JSON.stringify(await v3Listing(clients.replica, '/cli23/')) === JSON.stringify({ b: 'y', 'dir/a': 'x' }), 15_000, 'the v3 keys');
      const json = JSON.parse((await runCli(['mirror-status', '--json', await mirror.statusUrl()])).stdout) as { api: string };
      expect(json.api).toBe('v2-to-v3');
      const verify = await runCli(['mirror-verify', ...flags, clusters.source.clientUrl, clusters.replica.clientUrl]);
      expect(verify.stdout).toContain('equal');
      expect(verify.code).toBe(0);
    } finally {
      expect(await mirror.stop()).toBe(0);
    }
  });

  it('the bundled mirror with api: v3 starts with the proxy and replicates into its upstream', async () => {
    await clients.source.put('/bun3/a').value('1');
    const port = await freePort();
    const proxy = await startProxy({
      upstream: clusters.replica.clientUrl,
      config: { acls: { '/': [] }, readOnly: true, mirror: { api: 'v3', src: clusters.source.clientUrl, srcPrefix: '/bun3', port, reload: true } },
    });
    try {
      await clients.source.put('/bun3/b').value('2');
      await waitV3Converged(clients, '/bun3/', '/bun3/');
      const json = (await (await fetch(`http://127.0.0.1:${port}/status`)).json()) as { api: string; state: string };
      expect(json).toMatchObject({ api: 'v3', state: 'replicating' });
    } finally {
      expect(await proxy.stop()).toBe(0);
    }
  });
});
