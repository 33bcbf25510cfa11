import { describe, expect, it } from 'vitest';
import { EtcdClient } from '../../mirror/etcd/client.js';
import { EtcdV3Client } from '../../mirror/etcd/v3/client.js';
import type { MirrorOptions } from '../../mirror/options.js';
import { startMirrorV2ToV3 } from '../../mirror/v3/main.js';
import { verifyV2ToV3 } from '../../mirror/v3/verify.js';
import { capturedLogger, listing, mirrorOptions, useSourceAndReplica, v2, waitFor } from './mirror-helpers.js';
import { metricsText, recorded, useV3Clients, v3Listing } from './mirror-v3-helpers.js';

/** The v2 keys (not directories) below `root`, as the v3 keys they become. */
async function v2Files(base: string, root: string): Promise<Record<string, string>> {
  const all = await listing(base, root);
  return Object.fromEntries(Object.entries(all).filter(([, value]) => value !== '<dir>'));
}

describe('v2 → v3 migration', () => {
  const clusters = useSourceAndReplica();
  const clients = useV3Clients(clusters);
  const options = (prefix: string, overrides: Partial<MirrorOptions> = {}): MirrorOptions =>
    mirrorOptions(clusters.source.clientUrl, clusters.replica.clientUrl, { srcPrefix: prefix, dstPrefix: prefix, strip: true, ...overrides });
  const write = (method: 'PUT' | 'POST' | 'DELETE', key: string, params: Record<string, string> = {}) => v2(clusters.source.clientUrl, method, key, params);
  const recordOf = (prefix: string): Promise<number | undefined> => recorded(clients.replica, `__etcd_warden/replication-v2${prefix}`);

  it('carries every v2 action into v3 keys with the same names, the v2 index recorded beside them', async () => {
    const { logger, lines } = capturedLogger();
    const mirror = await startMirrorV2ToV3(options('/mig'), logger);
    try {
      await waitFor(async () => (await recordOf('/mig')) !== undefined, 15_000, 'the reload');
      await write('PUT', '/mig/set', { value: '1' });
      await write('PUT', '/mig/set', { value: '2' });
      await write('PUT', '/mig/created', { value: 'c', prevExist: 'false' });
      const queued = await write('POST', '/mig/queue', { value: 'job' });
      await write('PUT', '/mig/upd', { value: 'u1' });
      await write('PUT', '/mig/upd', { value: 'u2', prevExist: 'true' });
      await write('PUT', '/mig/cas', { value: 'a' });
      await write('PUT', '/mig/cas', { value: 'b', prevValue: 'a' });
      await write('PUT', '/mig/del', { value: 'x' });
      await write('DELETE', '/mig/del');
      await write('PUT', '/mig/cad', { value: 'y' });
      await write('DELETE', '/mig/cad', { prevValue: 'y' });
      await write('PUT', '/mig/dir/a', { value: '1' });
      await write('PUT', '/mig/dir/sub/b', { value: '2' });
      await write('DELETE', '/mig/dir', { recursive: 'true' });
      await write('PUT', '/mig/empty', { dir: 'true' });
      await write('PUT', '/mig/_hidden', { value: 'h' });
      await write('PUT', '/mig/kept/x', { value: 'implied directory' });
      await write('PUT', '/mig/ttl', { value: 't', ttl: '1' });
      await waitFor(async () => (await write('PUT', '/mig/ttl-gone', { value: 'probe' }), (await v2(clusters.source.clientUrl, 'GET', '/mig/ttl')).status === 404), 15_000, 'the TTL to expire');
      const last = await write('PUT', '/mig/last', { value: 'end' });
      const lastIndex = (last.body.node as { modifiedIndex: number }).modifiedIndex;
      await waitFor(async () => ((await recordOf('/mig')) ?? 0) >= lastIndex, 15_000, 'the record to reach the last write');
      const queueKey = ((queued.body.node as { key: string }).key).slice('/mig'.length);
      expect(await v3Listing(clients.replica, '/mig')).toEqual({
        '/cas': 'b',
        '/created': 'c',
        '/kept/x': 'implied directory',
        '/last': 'end',
        [queueKey]: 'job',
        '/set': '2',
        '/ttl-gone': 'probe',
        '/upd': 'u2',
      });
      expect(await v3Listing(clients.replica, '/mig')).toEqual(Object.fromEntries(Object.entries(await v2Files(clusters.source.clientUrl, '/mig')).filter(([key]) => !key.startsWith('/_'))));
      expect(lines.some((line) => line.msg === 'empty directory not copied: v3 keys imply their directories' && line.key === '/mig/empty')).toBe(true);
      expect(await metricsText(mirror.statusPort)).toMatch(/^etcd_warden_mirror_state\{state="replicating",api="v2-to-v3"\} 1$/m);
      expect(lines.filter((line) => line.level === 50)).toEqual([]);
    } finally {
      await mirror.stop();
    }
  });

  it('heals by snapshot and diff when the v2 index has left etcd\'s 1,000-event history', async () => {
    const first = await startMirrorV2ToV3(options('/heal'), capturedLogger().logger);
    for (let i = 0; i < 10; i++) await write('PUT', `/heal/k${i}`, { value: String(i) });
    await write('PUT', '/heal/dir/x', { value: 'x' });
    await waitFor(async () => Object.keys(await v3Listing(clients.replica, '/heal/')).length === 11, 15_000, 'the first copy');
    await first.stop();
    await write('PUT', '/heal/k1', { value: 'changed' });
    await write('DELETE', '/heal/dir', { recursive: 'true' });
    await write('PUT', '/heal/empty', { dir: 'true' });
    for (let i = 0; i < 1_100; i += 50) await Promise.all(Array.from({ length: 50 }, (_, j) => write('PUT', `/noise/k${(i + j) % 20}`, { value: String(i + j) })));

    const { logger, lines } = capturedLogger();
    const second = await startMirrorV2ToV3(options('/heal', { reload: false }), logger);
    try {
      await waitFor(async () => lines.some((line) => line.msg === 'resync done'), 15_000, 'the resync');
      expect(lines.find((line) => line.msg === 'resync done')).toMatchObject({ reason: 'index_cleared', puts: 1, deletes: 1, unchanged: 9 });
      expect(lines.find((line) => line.msg === 'empty directories not copied: v3 keys imply their directories')).toMatchObject({ directories: ['/heal/empty'] });
      expect(await v3Listing(clients.replica, '/heal/')).toEqual(await v2Files(clusters.source.clientUrl, '/heal').then((files) => Object.fromEntries(Object.entries(files).map(([key, value]) => [key.slice(1), value]))));
      expect(await metricsText(second.statusPort)).toMatch(/^etcd_warden_mirror_resyncs_total\{reason="index_cleared",api="v2-to-v3"\} 1$/m);
    } finally {
      await second.stop();
    }
  });

  it('mirror-verify compares the v2 source with the v3 replica key by key', async () => {
    const mirror = await startMirrorV2ToV3(options('/ver'), capturedLogger().logger);
    const src = new EtcdClient(clusters.source.clientUrl);
    const dst = new EtcdV3Client(clusters.replica.clientUrl);
    try {
      await write('PUT', '/ver/a', { value: '1' });
      await write('PUT', '/ver/d/b', { value: '2' });
      await write('PUT', '/ver/_hidden', { value: 'not compared' });
      const verifyOptions = { mapping: { srcPrefix: '/ver', dstPrefix: '/ver', strip: true }, waitMs: 10_000, attempts: 3 };
      const equal = await verifyV2ToV3(src, dst, verifyOptions);
      expect(equal).toMatchObject({ equal: true, sourceNodes: 2, replicaNodes: 2, differences: [] });
      await mirror.stop();
      await clients.replica.put('/ver/a').value('edited');
      await clients.replica.put('/ver/stray').value('s');
      const different = await verifyV2ToV3(src, dst, { ...verifyOptions, waitMs: 0 });
      expect(different.equal).toBe(false);
      expect(different.differences).toEqual([
        { kind: 'value', path: '/a', source: '1', replica: 'edited' },
        { kind: 'extra', path: '/stray', replica: { dir: false, value: 's' }, below: 0 },
      ]);
    } finally {
      await mirror.stop();
      await src.close();
      dst.close();
    }
  });
});
