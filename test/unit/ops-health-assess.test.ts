// The health verdict is a pure function of what the probes found.
import { describe, expect, it } from 'vitest';
import { assessHealth } from '../../bin/commands/health-assess.js';
import type { ClusterFacts, MemberFacts } from '../../bin/commands/health-facts.js';

const member = (name: string, overrides: Partial<MemberFacts> = {}): MemberFacts => ({
  id: `id-${name}`, name, clientUrl: `http://${name}:2379`, healthy: true, version: '3.4.23', raftIndex: 100, raftTerm: 2, leaderId: 'id-a', ...overrides,
});
const cluster = (overrides: Partial<ClusterFacts> = {}): ClusterFacts => ({
  endpoints: ['http://a:2379'], members: [member('a'), member('b'), member('c')], leader: { id: 'id-a', name: 'a' }, proxies: [], ...overrides,
});
const expect0 = { maxRaftSpread: 100, maxMirrorLag: 100 };
const mirrorStatus = { url: 'http://m:8000', lag: 0, state: 'replicating' as const, lastReplicatedIndex: 5, sourceIndex: 5, secondsSinceSourceContact: 1, resyncs: {}, strictFailures: 0, replicatedEvents: 3 };

describe('assessHealth', () => {
  const table: Array<[string, ClusterFacts, Partial<typeof expect0> & { readOnly?: boolean }, string, RegExp | undefined]> = [
    ['every member healthy', cluster(), {}, 'healthy', undefined],
    ['nothing answered', cluster({ members: [], membersProblem: 'no endpoint answered /v2/members (x)' }), {}, 'down', /no endpoint answered/],
    ['one of three down: quorum holds', cluster({ members: [member('a'), member('b'), member('c', { healthy: false, problem: 'unreachable: ECONNREFUSED' })] }), {}, 'degraded', /member c \(http:\/\/c:2379\) is not healthy: unreachable/],
    ['two of three down: no quorum', cluster({ members: [member('a'), member('b', { healthy: false }), member('c', { healthy: false })] }), {}, 'down', /only 1 of 3 members are healthy; a quorum needs 2/],
    ['no leader', cluster({ leader: undefined }), {}, 'down', /no leader/],
    ['mixed versions', cluster({ members: [member('a'), member('b'), member('c', { version: '3.3.25' })] }), {}, 'degraded', /different etcd versions: 3\.3\.25, 3\.4\.23/],
    ['split leader view', cluster({ members: [member('a'), member('b'), member('c', { leaderId: 'id-c' })] }), {}, 'degraded', /disagree on the leader/],
    ['a member far behind', cluster({ members: [member('a'), member('b'), member('c', { raftIndex: 5000 })] }), {}, 'degraded', /raft indexes differ by 4900/],
    ['spread within the limit', cluster({ members: [member('a'), member('b'), member('c', { raftIndex: 150 })] }), {}, 'healthy', undefined],
    ['read-only as expected', cluster({ proxies: [{ url: 'http://p:9181', readOnly: true }] }), { readOnly: true }, 'healthy', undefined],
    ['read-only not as expected', cluster({ proxies: [{ url: 'http://p:9181', readOnly: true }] }), { readOnly: false }, 'degraded', /read-only true, expected false/],
    ['the proxy reports a member URL around it', cluster({ proxies: [{ url: 'http://p:9181', readOnly: false, reports: ['etcd member a advertises client URL http://127.0.0.1:2379, which is etcd\'s own client listener'] }] }), {}, 'degraded', /proxy http:\/\/p:9181 reports: etcd member a advertises client URL http:\/\/127\.0\.0\.1:2379/],
    ['proxy unreachable', cluster({ proxies: [{ url: 'http://p:9181', problem: 'unreachable: ECONNREFUSED' }] }), { readOnly: true }, 'degraded', /proxy http:\/\/p:9181: unreachable/],
    ['mirror fine', cluster({ mirror: { url: 'http://m:8000', status: mirrorStatus } }), {}, 'healthy', undefined],
    ['mirror lagging', cluster({ mirror: { url: 'http://m:8000', status: { ...mirrorStatus, lag: 500 } } }), {}, 'degraded', /lags 500 indexes/],
    ['mirror resyncing', cluster({ mirror: { url: 'http://m:8000', status: { ...mirrorStatus, state: 'resyncing' } } }), {}, 'degraded', /is resyncing, not replicating/],
    ['mirror deaf', cluster({ mirror: { url: 'http://m:8000', status: { ...mirrorStatus, secondsSinceSourceContact: 300 } } }), {}, 'degraded', /not heard from its source for 300 s/],
    ['mirror unreachable', cluster({ mirror: { url: 'http://m:8000', problem: 'unreachable: ECONNREFUSED' } }), {}, 'degraded', /mirror http:\/\/m:8000: unreachable/],
  ];
  it.each(table)('%s', (_name, facts, expectations, status, problem) => {
    const verdict = assessHealth(facts, { ...expect0, ...expectations });
    expect(verdict.status).toBe(status);
    if (problem === undefined) expect(verdict.problems).toEqual([]);
    else expect(verdict.problems.join('\n')).toMatch(problem);
  });

  it('lists the reasons for down before the ones for degraded', () => {
    const verdict = assessHealth(cluster({ leader: undefined, proxies: [{ url: 'http://p:9181', readOnly: false }] }), { ...expect0, readOnly: true });
    expect(verdict.problems[0]).toBe('the cluster reports no leader');
    expect(verdict.problems[1]).toContain('read-only false, expected true');
  });
});
