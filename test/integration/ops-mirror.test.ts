// `etcd-warden mirror-status` and `mirror-verify` against a real mirror
// between two real etcds.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEtcd, type EtcdProcess } from '../fixtures/etcd.js';
import type { RunningMirror } from '../../mirror/main.js';
import { capturedLogger, listing, mirrorOptions, runMirror, v2, waitConverged, waitFor } from './mirror-helpers.js';
import { runCli } from './ops-helpers.js';

let primary: EtcdProcess;
let replica: EtcdProcess;
let mirror: RunningMirror;
const mirrorFlags = ['--src-prefix', '/conftool', '--dst-prefix', '/conftool', '--strip'];

beforeAll(async () => {
  [primary, replica] = await Promise.all([startEtcd('ops-mirror-primary'), startEtcd('ops-mirror-replica')]);
  for (const [key, value] of [['/conftool/v1/pools/eqiad/mw1001', '{"pooled":"yes"}'], ['/conftool/v1/pools/eqiad/mw1002', '{"pooled":"no"}'], ['/conftool/v1/dnsbox/x', 'a']] as const) {
    await v2(primary.clientUrl, 'PUT', key, { value });
  }
  // Hidden keys are never replicated; verify must leave them out the same way.
  await v2(primary.clientUrl, 'PUT', '/conftool/v1/_locks/held', { value: 'me' });
  mirror = await runMirror(mirrorOptions(primary.clientUrl, replica.clientUrl, { dstPrefix: '/conftool', strip: true, logLevel: 'silent' }), capturedLogger('silent').logger);
  await waitConverged(primary.clientUrl, '/conftool', replica.clientUrl, '/conftool');
});

afterAll(async () => {
  await mirror.stop();
  await Promise.all([primary.stop(), replica.stop()]);
});

describe('etcd-warden mirror-status', () => {
  it('prints state, lag, last index, source contact and resyncs of a running mirror (exit 0)', async () => {
    const result = await runCli(['mirror-status', `http://127.0.0.1:${mirror.statusPort}`]);
    expect(result.stdout).toMatch(/state\s+replicating/);
    expect(result.stdout).toMatch(/lag\s+\d+/);
    expect(result.stdout).toMatch(/last replicated index\s+\d+/);
    expect(result.stdout).toMatch(/since source contact\s+[\d.]+ s/);
    expect(result.stdout).toMatch(/resyncs\s+.*reload 1/);
    expect(result.code).toBe(0);
  });

  it('gives the same in JSON, with the /lag URL accepted as the address', async () => {
    const result = await runCli(['mirror-status', '--json', `http://127.0.0.1:${mirror.statusPort}/lag`]);
    const json = JSON.parse(result.stdout) as { status: string; state: string; resyncs: Record<string, number>; lastReplicatedIndex: number };
    expect(json).toMatchObject({ status: 'healthy', state: 'replicating', resyncs: { reload: 1, index_cleared: 0 } });
    expect(json.lastReplicatedIndex).toBeGreaterThan(0);
    expect(result.code).toBe(0);
  });

  it('says unreachable (exit 2) when nothing listens there', async () => {
    const result = await runCli(['mirror-status', 'http://127.0.0.1:1']);
    expect(result.stdout).toContain('unreachable');
    expect(result.code).toBe(2);
  });
});

describe('etcd-warden mirror-verify', () => {
  it('finds an exact replica equal (exit 0), leaving hidden keys out as the mirror does', async () => {
    const result = await runCli(['mirror-verify', ...mirrorFlags, primary.clientUrl, replica.clientUrl]);
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain('equal: the replica holds exactly what the source holds');
    expect(result.stdout).toMatch(/source  http:\/\/127\.0\.0\.1:\d+ \/conftool: \d+ nodes at index \d+/);
    expect(result.code).toBe(0);
  });

  it('reads the URLs from the mirror unit\'s environment variables too', async () => {
    const result = await runCli(['mirror-verify', '--json', ...mirrorFlags], { ETCD_WARDEN_MIRROR_SRC: primary.clientUrl, ETCD_WARDEN_MIRROR_DST: replica.clientUrl });
    expect((JSON.parse(result.stdout) as { equal: boolean }).equal).toBe(true);
    expect(result.code).toBe(0);
  });

  it('lists every kind of difference in a deliberately damaged replica (exit 1) and writes nothing', async () => {
    // Damage the replica behind the mirror's back: it only ever writes keys
    // the source changes, so these stay damaged.
    await v2(replica.clientUrl, 'PUT', '/conftool/v1/pools/eqiad/mw1001', { value: '{"pooled":"inactive"}' });
    await v2(replica.clientUrl, 'DELETE', '/conftool/v1/pools/eqiad/mw1002');
    await v2(replica.clientUrl, 'PUT', '/conftool/v1/stray/a', { value: '1' });
    await v2(replica.clientUrl, 'PUT', '/conftool/v1/stray/b', { value: '2' });
    await v2(replica.clientUrl, 'DELETE', '/conftool/v1/dnsbox/x');
    await v2(replica.clientUrl, 'PUT', '/conftool/v1/dnsbox/x/y', { value: 'now a dir' });
    const before = { primary: await listing(primary.clientUrl, '/'), replica: await listing(replica.clientUrl, '/') };

    const result = await runCli(['mirror-verify', ...mirrorFlags, primary.clientUrl, replica.clientUrl]);
    expect(result.code).toBe(1);
    const lines = result.stdout.split('\n');
    expect(lines).toContain('value    /conftool/v1/pools/eqiad/mw1001: the source holds "{\\"pooled\\":\\"yes\\"}", the replica "{\\"pooled\\":\\"inactive\\"}"');
    expect(lines).toContain('missing  /conftool/v1/pools/eqiad/mw1002: the source /conftool/v1/pools/eqiad/mw1002 holds "{\\"pooled\\":\\"no\\"}", the replica has nothing');
    expect(lines).toContain('extra    /conftool/v1/stray: the replica holds <dir> and 2 nodes below it, the source has nothing');
    expect(lines).toContain('type     /conftool/v1/dnsbox/x: the source holds "a", the replica <dir>');
    expect(lines).toContain('different: 4 differences');

    const json = JSON.parse((await runCli(['mirror-verify', '--json', ...mirrorFlags, primary.clientUrl, replica.clientUrl])).stdout) as { equal: boolean; differences: Array<{ kind: string; replicaKey: string }> };
    expect(json.equal).toBe(false);
    expect(json.differences.map((difference) => `${difference.kind} ${difference.replicaKey}`)).toEqual([
      'type /conftool/v1/dnsbox/x',
      'value /conftool/v1/pools/eqiad/mw1001',
      'missing /conftool/v1/pools/eqiad/mw1002',
      'extra /conftool/v1/stray',
    ]);
    expect({ primary: await listing(primary.clientUrl, '/'), replica: await listing(replica.clientUrl, '/') }).toEqual(before);
  });

  it('compares a replica that keeps the source prefix (no --strip) under its destination prefix', async () => {
    const other = await startEtcd('ops-mirror-nostrip');
    const second = await runMirror(mirrorOptions(primary.clientUrl, other.clientUrl, { dstPrefix: '/replica', strip: false, logLevel: 'silent' }), capturedLogger('silent').logger);
    try {
      await waitFor(async () => (await listing(other.clientUrl, '/replica/conftool'))['/v1/pools/eqiad/mw1001'] !== undefined);
      const equal = await runCli(['mirror-verify', '--src-prefix', '/conftool', '--dst-prefix', '/replica', primary.clientUrl, other.clientUrl]);
      expect(equal.stdout).toContain('/replica/conftool');
      expect(equal.code).toBe(0);
      await v2(other.clientUrl, 'PUT', '/replica/conftool/v1/extra', { value: 'x' });
      const different = await runCli(['mirror-verify', '--src-prefix', '/conftool', '--dst-prefix', '/replica', primary.clientUrl, other.clientUrl]);
      expect(different.stdout).toContain('extra    /replica/conftool/v1/extra');
      expect(different.code).toBe(1);
    } finally {
      await second.stop();
      await other.stop();
    }
  });

  it('exits 2 with the reason when it cannot compare', async () => {
    const result = await runCli(['mirror-verify', ...mirrorFlags, primary.clientUrl, 'http://127.0.0.1:1']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('could not compare');
  });
});
