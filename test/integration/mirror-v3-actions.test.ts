import { Etcd3 } from 'etcd3';
import { describe, expect, it } from 'vitest';
import { EtcdV3Client } from '../../mirror/etcd/v3/client.js';
import type { MirrorOptions } from '../../mirror/options.js';
import { startMirrorV3 } from '../../mirror/v3/main.js';
import { verifyV3 } from '../../mirror/v3/verify.js';
import { capturedLogger, mirrorOptions, useSourceAndReplica, waitFor } from './mirror-helpers.js';
import { metricsText, recorded, useV3Clients, v3KeyValues, v3Listing, waitV3Converged } from './mirror-v3-helpers.js';

const bytes = (text: string): Buffer => Buffer.from(text);

describe('v3 mirror: every v3 operation', () => {
  const clusters = useSourceAndReplica();
  const clients = useV3Clients(clusters);
  const options = (srcPrefix: string, dstPrefix: string, overrides: Partial<MirrorOptions> = {}): MirrorOptions =>
    mirrorOptions(clusters.source.clientUrl, clusters.replica.clientUrl, { srcPrefix, dstPrefix, ...overrides });

  it('replicates a Put, and a Put with a lease without its lease; the lease\'s revocation arrives as a delete', async () => {
    const mirror = await startMirrorV3(options('/lease', '/r1'), capturedLogger().logger);
    try {
      await clients.source.put('/lease/a').value('1');
      const lease = clients.source.lease(60, { autoKeepAlive: false });
      await lease.put('/lease/b').value('2');
      expect(await waitV3Converged(clients, '/lease/', '/r1/lease/')).toEqual({ a: '1', b: '2' });
      expect((await v3KeyValues(clients.replica, '/r1/lease/')).get('b')?.lease).toBe('0');
      await lease.revoke();
      expect(await waitV3Converged(clients, '/lease/', '/r1/lease/')).toEqual({ a: '1' });
    } finally {
      await mirror.stop();
    }
  });

  it('replicates DeleteRange of one key, of a 200-key prefix in one revision, and from a key to the end ("\\0")', async () => {
    const mirror = await startMirrorV3(options('/zz', '/r2'), capturedLogger().logger);
    try {
      await clients.source.put('/zz/one').value('1');
      await clients.source.put('/zz/keep').value('k');
      for (let i = 0; i < 200; i += 50) await Promise.all(Array.from({ length: 50 }, (_, j) => clients.source.put(`/zz/many/k${String(i + j).padStart(3, '0')}`).value('v')));
      for (const name of ['a', 'b', 'c']) await clients.source.put(`/zz/tail/${name}`).value(name);
      await waitV3Converged(clients, '/zz/', '/r2/zz/');
      await clients.source.delete().key('/zz/one');
      const prefixDelete = await clients.source.delete().prefix('/zz/many/');
      expect(prefixDelete.deleted).toBe('200');
      await waitFor(async () => (await recorded(clients.replica, '__etcd_warden/replication/r2')) === Number(prefixDelete.header.revision), 15_000, 'the 200-key delete');
      await clients.source.kv.deleteRange({ key: bytes('/zz/tail/b'), range_end: Buffer.from([0]) });
      expect(await waitV3Converged(clients, '/zz/', '/r2/zz/')).toEqual({ keep: 'k', 'tail/a': 'a' });
    } finally {
      await mirror.stop();
    }
  });

  it('applies a source Txn with several writes as one destination revision, recorded in the same Txn', async () => {
    const mirror = await startMirrorV3(options('/txn', '/r3'), capturedLogger().logger);
    try {
      await waitFor(async () => (await recorded(clients.replica, '__etcd_warden/replication/r3')) !== undefined, 15_000, 'the reload');
      await clients.source.put('/txn/gone').value('x');
      const txn = await clients.source.kv.txn({
        success: [
          { request_put: { key: bytes('/txn/a'), value: bytes('1') } },
          { request_put: { key: bytes('/txn/b'), value: bytes('2') } },
          { request_delete_range: { key: bytes('/txn/gone') } },
        ],
      });
      await waitFor(async () => (await recorded(clients.replica, '__etcd_warden/replication/r3')) === Number(txn.header.revision), 15_000, 'the Txn');
      const replica = await v3KeyValues(clients.replica, '/r3/txn/');
      expect([...replica.keys()].sort()).toEqual(['a', 'b']);
      const applied = replica.get('a')?.mod_revision;
      expect(replica.get('b')?.mod_revision).toBe(applied);
      // The record changed in that very destination revision, from an earlier source revision to the Txn's.
      const recordAt = async (revision: number): Promise<number> => Number(await clients.replica.get('__etcd_warden/replication/r3').revision(revision).string());
      expect(await recordAt(Number(applied))).toBe(Number(txn.header.revision));
      expect(await recordAt(Number(applied) - 1)).toBeLessThan(Number(txn.header.revision));
    } finally {
      await mirror.stop();
    }
  });

  it('replicates the writes of a nested Txn', async () => {
    const mirror = await startMirrorV3(options('/nest', '/r4'), capturedLogger().logger);
    try {
      await clients.source.kv.txn({
        success: [
          { request_put: { key: bytes('/nest/outer'), value: bytes('o') } },
          { request_txn: { success: [{ request_put: { key: bytes('/nest/inner1'), value: bytes('i1') } }, { request_put: { key: bytes('/nest/inner2'), value: bytes('i2') } }] } },
        ],
      });
      expect(await waitV3Converged(clients, '/nest/', '/r4/nest/')).toEqual({ inner1: 'i1', inner2: 'i2', outer: 'o' });
    } finally {
      await mirror.stop();
    }
  });

  it('replicates updates of 1 MiB values (a 1 MiB compare plus a 1 MiB value would exceed etcd\'s request limit)', async () => {
    const { logger, lines } = capturedLogger();
    const mirror = await startMirrorV3(options('/big', '/r5'), logger);
    try {
      await clients.source.put('/big/v').value('a'.repeat(1024 * 1024));
      await clients.source.put('/big/v').value('b'.repeat(1024 * 1024));
      await waitFor(async () => (await clients.replica.get('/r5/big/v').string()) === 'b'.repeat(1024 * 1024), 15_000, 'the second 1 MiB value');
      expect(lines.filter((line) => (line.level as number) >= 50)).toEqual([]);
    } finally {
      await mirror.stop();
    }
  });

  it('maps keys on segment boundaries with --strip and --dst-prefix, and leaves --src-ignore-keys-regex keys alone', async () => {
    const mirror = await startMirrorV3(options('/m/conf', '/m-r', { strip: true, srcIgnoreKeysRegex: /\/locks\// }), capturedLogger().logger);
    try {
      await clients.source.put('/m/conf').value('self');
      await clients.source.put('/m/conf/a').value('1');
      await clients.source.put('/m/conf-x/b').value('sibling');
      await clients.source.put('/m/conf/v1/locks/l').value('lock');
      await clients.source.put('/m/conf/v1/pools/p').value('pool');
      await waitFor(async () => (await clients.replica.get('/m-r/v1/pools/p').string()) === 'pool', 15_000, 'the last key');
      expect(await v3Listing(clients.replica, '/m-r')).toEqual({ '': 'self', '/a': '1', '/v1/pools/p': 'pool' });
    } finally {
      await mirror.stop();
    }
  });

  it('moves the record over a quiet prefix while the rest of the cluster is busy, so /lag stays 0', async () => {
    const mirror = await startMirrorV3(options('/quiet', '/r6'), capturedLogger().logger);
    try {
      await clients.source.put('/quiet/a').value('1');
      await waitV3Converged(clients, '/quiet/', '/r6/quiet/');
      for (let i = 0; i < 100; i++) await clients.source.put(`/busy/k${i % 10}`).value(String(i));
      const sourceRevision = Number((await clients.source.get('/busy/k0').exec()).header.revision);
      await waitFor(async () => ((await recorded(clients.replica, '__etcd_warden/replication/r6')) ?? 0) >= sourceRevision, 20_000, 'the record to follow the source');
      expect(await (await fetch(`http://127.0.0.1:${mirror.statusPort}/lag`)).text()).toBe('0');
    } finally {
      await mirror.stop();
    }
  });

  it('serves /lag and the v2 mirror\'s metrics with api="v3"', async () => {
    const mirror = await startMirrorV3(options('/met', '/r7'), capturedLogger().logger);
    try {
      // After the --reload copy, so the key travels as an event.
      await waitFor(async () => (await recorded(clients.replica, '__etcd_warden/replication/r7')) !== undefined, 15_000, 'the reload');
      await clients.source.put('/met/a').value('1');
      await waitV3Converged(clients, '/met/', '/r7/met/');
      const text = await metricsText(mirror.statusPort);
      expect(text).toMatch(/^etcdmirror_replicated_events_total\{api="v3"\} [1-9]/m);
      expect(text).toMatch(/^etcd_warden_mirror_state\{state="replicating",api="v3"\} 1$/m);
      expect(text).toMatch(/^etcd_warden_mirror_resyncs_total\{reason="reload",api="v3"\} 1$/m);
      expect(text).toMatch(/^etcd_warden_mirror_last_replicated_index\{api="v3"\} [1-9]/m);
    } finally {
      await mirror.stop();
    }
  });

  it('refuses to start without a record unless given --reload', async () => {
    const mirror = await startMirrorV3(options('/none', '/r8', { reload: false }), capturedLogger().logger);
    const exit = await mirror.done;
    await mirror.stop();
    expect(exit.code).toBe(1);
    expect(exit.reason).toContain('no recorded revision at __etcd_warden/replication/r8');
    expect(exit.reason).toContain('--reload');
  });

  it('stops on a hand-edited destination key with the key, both values and the revision, and mirror-verify lists it', async () => {
    const { logger, lines } = capturedLogger();
    const mirror = await startMirrorV3(options('/strict', '/r9'), logger);
    const src = new EtcdV3Client(clusters.source.clientUrl);
    const dst = new EtcdV3Client(clusters.replica.clientUrl);
    try {
      await clients.source.put('/strict/a').value('1');
      await clients.source.put('/strict/b').value('same');
      await waitV3Converged(clients, '/strict/', '/r9/strict/');
      const verifyOptions = { mapping: { srcPrefix: '/strict', dstPrefix: '/r9', strip: false }, waitMs: 5_000, attempts: 3 };
      expect((await verifyV3(src, dst, verifyOptions)).equal).toBe(true);
      await clients.replica.put('/r9/strict/a').value('hand-edited');
      const update = await clients.source.put('/strict/a').value('2').exec();
      const exit = await mirror.done;
      expect(exit.code).toBe(1);
      const stop = lines.find((line) => line.level === 50 && line.key !== undefined);
      expect(stop).toMatchObject({ key: '/r9/strict/a', expected: 'value "1"', actual: 'value "hand-edited"', revision: Number(update.header.revision) });
      expect(await metricsText(mirror.statusPort)).toMatch(/^etcd_warden_mirror_strict_failures_total\{api="v3"\} 1$/m);
      const verified = await verifyV3(src, dst, { ...verifyOptions, waitMs: 0 });
      expect(verified.equal).toBe(false);
      expect(verified.differences).toEqual([{ kind: 'value', path: '/a', source: '2', replica: 'hand-edited' }]);
    } finally {
      await mirror.stop();
      src.close();
      dst.close();
    }
  });
});

describe('v3 mirror against a source with etcd auth enabled', () => {
  const clusters = useSourceAndReplica();
  const clients = useV3Clients(clusters);

  it('authenticates with the user:password of the source URL, as the v2 mirror does', async () => {
    await clients.source.role('root').create();
    await clients.source.user('root').create('s3cret');
    await clients.source.user('root').addRole('root');
    await clients.source.auth.authEnable({});
    const authenticated = new Etcd3({ hosts: clusters.source.clientUrl, auth: { username: 'root', password: 's3cret' } });
    const source = new URL(clusters.source.clientUrl);
    source.username = 'root';
    source.password = 's3cret';
    const mirror = await startMirrorV3(mirrorOptions(source.toString(), clusters.replica.clientUrl, { srcPrefix: '/auth', dstPrefix: '/ra' }), capturedLogger().logger);
    try {
      await authenticated.put('/auth/a').value('1');
      await waitFor(async () => (await clients.replica.get('/ra/auth/a').string()) === '1', 15_000, 'the key from the authenticated source');
    } finally {
      await mirror.stop();
      authenticated.close();
    }
  });
});
