// `etcd-warden health` against real clusters: healthy, a member down,
// everything down, and the proxy's read-only switch as expected or not.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEtcd, type EtcdProcess } from '../fixtures/etcd.js';
import { startProxiedMember, type ProxiedMember } from '../fixtures/member.js';
import type { ProxyProcess } from '../fixtures/proxy.js';
import { capturedLogger, mirrorOptions, runMirror } from './mirror-helpers.js';
import { runCli, startEtcdCluster, type EtcdCluster } from './ops-helpers.js';

interface HealthJson {
  status: string;
  problems: string[];
  raftIndexSpread: number | null;
  members: Array<{ name: string; healthy: boolean; version?: string; raftIndex?: number; problem?: string }>;
  leader?: { id: string; name: string };
  proxies: Array<{ readOnly?: boolean }>;
  mirror?: { status?: { state: string; lag: number } };
}

const health = async (args: string[]): Promise<{ code: number | null; json: HealthJson; stdout: string }> => {
  const result = await runCli(['health', '--json', ...args]);
  return { code: result.code, json: JSON.parse(result.stdout) as HealthJson, stdout: result.stdout };
};

describe('etcd-warden health on a three-member cluster', () => {
  let cluster: EtcdCluster;
  beforeAll(async () => {
    cluster = await startEtcdCluster(3);
  });
  afterAll(async () => {
    await cluster.stop();
  });

  it('finds every member from one endpoint and reports the cluster healthy (exit 0)', async () => {
    const { code, json } = await health(['--endpoints', cluster.clientUrls[0] ?? '']);
    expect(json.problems).toEqual([]);
    expect(json.status).toBe('healthy');
    expect(code).toBe(0);
    expect(json.members.map((member) => member.name).sort()).toEqual(['m0', 'm1', 'm2']);
    expect(json.members.every((member) => member.healthy && member.version === '3.4.23' && typeof member.raftIndex === 'number')).toBe(true);
    expect(['m0', 'm1', 'm2']).toContain(json.leader?.name);
    expect(typeof json.raftIndexSpread).toBe('number');
  });

  it('prints a human summary naming the leader and every member', async () => {
    const result = await runCli(['health', '--endpoints', cluster.clientUrls.join(',')]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^cluster [0-9a-f]+: HEALTHY/);
    for (const name of ['m0', 'm1', 'm2']) expect(result.stdout).toContain(`member ${name} `);
    expect(result.stdout).toContain('leader');
  });

  it('reports a stopped member as degraded (exit 1) while the quorum holds', async () => {
    // Stop a follower: stopping the leader would add an election to the test.
    const leader = (await (await fetch(`${cluster.clientUrls[0] ?? ''}/v2/members/leader`)).json()) as { name: string };
    const victim = ['m0', 'm1', 'm2'].findIndex((name) => name !== leader.name);
    await cluster.stopMember(victim);
    const { code, json } = await health(['--endpoints', cluster.clientUrls.join(',')]);
    expect(json.status).toBe('degraded');
    expect(code).toBe(1);
    expect(json.problems.join('\n')).toMatch(new RegExp(`member m${victim} \\(http://127\\.0\\.0\\.1:\\d+\\) is not healthy: unreachable`));
    expect(json.members.filter((member) => member.healthy)).toHaveLength(2);
  });
});

describe('etcd-warden health on a single member', () => {
  let etcd: EtcdProcess;
  let proxy: ProxyProcess;
  let member: ProxiedMember;
  beforeAll(async () => {
    // etcd advertising the proxy's URL, as deployed: otherwise the proxy reports the member URL around it.
    member = await startProxiedMember('health-single', { config: { readOnly: true, acls: { '/': [] } } });
    ({ etcd, proxy } = member);
  });
  afterAll(async () => {
    await member.stop();
  });

  it('is healthy when the proxy is read-only as expected, through the proxy itself', async () => {
    const { code, json } = await health(['--endpoints', proxy.url, '--proxy-health', proxy.metricsUrl, '--expect-read-only', 'true']);
    expect(json.problems).toEqual([]);
    expect(code).toBe(0);
    expect(json.proxies[0]?.readOnly).toBe(true);
  });

  it('is degraded (exit 1) when the read-only switch is not what was expected', async () => {
    const { code, json } = await health(['--endpoints', etcd.clientUrl, '--proxy-health', `${proxy.metricsUrl}/healthz`, '--expect-read-only', 'false']);
    expect(json.status).toBe('degraded');
    expect(code).toBe(1);
    expect(json.problems).toEqual([`proxy ${proxy.metricsUrl}/healthz has read-only true, expected false`]);
  });

  it('reports a running mirror and its lag', async () => {
    const replica = await startEtcd('health-replica');
    const mirror = await runMirror(mirrorOptions(etcd.clientUrl, replica.clientUrl), capturedLogger('silent').logger);
    try {
      const { code, json } = await health(['--endpoints', replica.clientUrl, '--mirror', `http://127.0.0.1:${mirror.statusPort}`]);
      expect(json.mirror?.status?.state).toBe('replicating');
      expect(typeof json.mirror?.status?.lag).toBe('number');
      expect(json.problems).toEqual([]);
      expect(code).toBe(0);
    } finally {
      await mirror.stop();
      await replica.stop();
    }
  });

  it('refuses --expect-read-only without the proxy address (exit 3, usage)', async () => {
    const result = await runCli(['health', '--endpoints', etcd.clientUrl, '--expect-read-only', 'true']);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('--expect-read-only needs --proxy-health');
  });

  it('is down (exit 2) when etcd is stopped', async () => {
    await etcd.pause();
    try {
      const { code, json } = await health(['--endpoints', etcd.clientUrl, '--timeout-ms', '2000']);
      expect(json.status).toBe('down');
      expect(code).toBe(2);
      expect(json.problems[0]).toContain('no endpoint answered /v2/members');
    } finally {
      await etcd.resume();
    }
  });
});
