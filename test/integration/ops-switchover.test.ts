// `etcd-warden switchover` between two real etcds with a real mirror running
// old → new: refusals, dry runs, and a real switchover that ends with a
// mirror in the reverse direction (started without --reload) carrying new
// writes back, nothing lost.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEtcd, type EtcdProcess } from '../fixtures/etcd.js';
import { startProxy, type ProxyProcess } from '../fixtures/proxy.js';
import type { RunningMirror } from '../../mirror/main.js';
import { capturedLogger, listing, mirrorOptions, runMirror, v2, waitConverged } from './mirror-helpers.js';
import { runCli } from './ops-helpers.js';

let oldPrimary: EtcdProcess;
let newPrimary: EtcdProcess;
let oldProxy: ProxyProcess;
let forward: RunningMirror;
let reverse: RunningMirror | undefined;
const prefixes = ['--src-prefix', '/conftool', '--dst-prefix', '/conftool', '--strip'];
const switchover = (extra: string[]) =>
  runCli([
    'switchover', '--old-primary', oldPrimary.clientUrl, '--new-primary', newPrimary.clientUrl, ...prefixes,
    '--old-primary-proxy-health', oldProxy.metricsUrl, '--mirror', `http://127.0.0.1:${forward.statusPort}`, '--timeout-ms', '30000', ...extra,
  ]);
const reverseIndexOnOld = async (): Promise<number> => (await v2(oldPrimary.clientUrl, 'GET', '/__replication/conftool')).status;

beforeAll(async () => {
  [oldPrimary, newPrimary] = await Promise.all([startEtcd('switch-old'), startEtcd('switch-new')]);
  oldProxy = await startProxy({ upstream: oldPrimary.clientUrl, config: { acls: { '/': [] } } });
  for (let i = 0; i < 20; i++) await v2(oldPrimary.clientUrl, 'PUT', `/conftool/v1/pools/eqiad/mw${1000 + i}`, { value: `{"pooled":"yes","weight":${i}}` });
  await v2(oldPrimary.clientUrl, 'PUT', '/conftool/v1/empty', { dir: 'true' });
  forward = await runMirror(mirrorOptions(oldPrimary.clientUrl, newPrimary.clientUrl, { dstPrefix: '/conftool', strip: true, logLevel: 'silent' }), capturedLogger('silent').logger);
  await waitConverged(oldPrimary.clientUrl, '/conftool', newPrimary.clientUrl, '/conftool');
});

afterAll(async () => {
  await reverse?.stop();
  await forward.stop();
  await oldProxy.stop();
  await Promise.all([oldPrimary.stop(), newPrimary.stop()]);
});

describe('etcd-warden switchover', () => {
  it('dry run: shows every step, marks the read-only check failed, writes nothing (exit 1)', async () => {
    const result = await switchover(['--dry-run']);
    expect(result.stdout).toContain('DRY RUN (nothing is written)');
    expect(result.stdout).toContain(`FAILED: the proxy at ${oldProxy.metricsUrl} reports readOnly false`);
    for (let step = 1; step <= 6; step++) expect(result.stdout).toContain(`step ${step}/6`);
    expect(result.stdout).toMatch(/ok: would set \/__replication\/conftool = \d+ on the old primary \(now absent\)/);
    expect(result.stdout).toContain('1 check(s) failed');
    expect(result.code).toBe(1);
    expect(await reverseIndexOnOld()).toBe(404);
  });

  it('refuses to go on while the old primary is writable, saying why (exit 1)', async () => {
    const result = await switchover([]);
    expect(result.stdout).toContain('REFUSED: the proxy at');
    expect(result.stdout).toContain('set readOnly: true in its config and reload it first');
    expect(result.stdout).not.toContain('step 3/6');
    expect(result.code).toBe(1);
    expect(await reverseIndexOnOld()).toBe(404);
  });

  it('refuses without a way to know the read-only state', async () => {
    const result = await runCli(['switchover', '--old-primary', oldPrimary.clientUrl, '--new-primary', newPrimary.clientUrl, ...prefixes]);
    expect(result.stdout).toContain('cannot tell whether the old primary is read-only');
    expect(result.code).toBe(1);
  });

  it('dry run with the old primary read-only: every check passes and nothing is written (exit 0)', async () => {
    const mark = oldProxy.logs().length;
    await oldProxy.writeConfig({ acls: { '/': [] }, readOnly: true });
    oldProxy.signal('SIGHUP');
    await oldProxy.waitForLog((line) => line.msg === 'config reloaded', mark);
    const result = await switchover(['--dry-run']);
    expect(result.stdout).not.toContain('FAILED');
    expect(result.stdout).toContain("lag 0: replicated index");
    expect(result.stdout).toMatch(/ok: 24 nodes equal under \/conftool \(old\) and \/conftool \(new\)/);
    expect(result.stdout).toContain('dry run: every check passed');
    expect(result.code).toBe(0);
    expect(await reverseIndexOnOld()).toBe(404);
  });

  it('refuses to record through the read-only proxy and says to use the etcd URL itself', async () => {
    const result = await runCli([
      'switchover', '--old-primary', oldProxy.url, '--new-primary', newPrimary.clientUrl, ...prefixes, '--old-primary-proxy-health', oldProxy.metricsUrl,
    ]);
    expect(result.stdout).toContain('REFUSED: the old primary refused the write as read-only: --old-primary must be the etcd client URL itself');
    expect(result.code).toBe(1);
    expect(await reverseIndexOnOld()).toBe(404);
  });

  it('switches over: records the new primary index, and a reverse mirror without --reload carries new writes back, nothing lost', async () => {
    const before = await listing(oldPrimary.clientUrl, '/conftool');
    const result = await switchover([]);
    expect(result.stdout).toContain('done. What remains is config, in this order:');
    expect(result.stdout).toContain('readOnly: false');
    expect(result.stdout).toContain('strip: true');
    expect(result.code).toBe(0);
    const recorded = (await v2(oldPrimary.clientUrl, 'GET', '/__replication/conftool')).body as { node: { value: string } };
    const index = Number(recorded.node.value);
    expect(result.stdout).toContain(`set /__replication/conftool = ${index} on the old primary (now absent)`);

    // The flips, as an operator does them: stop the forward mirror, write on
    // the new primary, start the mirror the other way round.
    await forward.stop();
    await v2(newPrimary.clientUrl, 'PUT', '/conftool/v1/pools/codfw/mw2001', { value: '{"pooled":"yes"}' });
    await v2(newPrimary.clientUrl, 'PUT', '/conftool/v1/pools/eqiad/mw1000', { value: '{"pooled":"no"}' });
    await v2(newPrimary.clientUrl, 'DELETE', '/conftool/v1/pools/eqiad/mw1001');
    reverse = await runMirror(
      mirrorOptions(newPrimary.clientUrl, oldPrimary.clientUrl, { srcPrefix: '/conftool', dstPrefix: '/conftool', strip: true, reload: false, logLevel: 'silent' }),
      capturedLogger('silent').logger,
    );
    const after = await waitConverged(newPrimary.clientUrl, '/conftool', oldPrimary.clientUrl, '/conftool');
    const expected: Record<string, string> = { ...before, '/v1/pools/codfw': '<dir>', '/v1/pools/codfw/mw2001': '{"pooled":"yes"}', '/v1/pools/eqiad/mw1000': '{"pooled":"no"}' };
    delete expected['/v1/pools/eqiad/mw1001'];
    expect(after).toEqual(expected);

    // It resumed from the recorded index: no reload, no resync.
    const status = JSON.parse((await runCli(['mirror-status', '--json', `http://127.0.0.1:${reverse.statusPort}`])).stdout) as { resyncs: Record<string, number> };
    expect(status.resyncs).toEqual({ index_cleared: 0, reload: 0 });
    const verify = await runCli(['mirror-verify', ...prefixes, newPrimary.clientUrl, oldPrimary.clientUrl]);
    expect(verify.stdout).toContain('equal:');
    expect(verify.code).toBe(0);
  });
});
