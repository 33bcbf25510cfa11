// Pure: a cluster's facts → healthy / degraded / down, with every reason.
// Down means clients cannot use the cluster (nothing answers, no quorum, no
// leader); degraded means they can, but an operator must look.
import { mirrorProblems } from './mirror-status-read.js';
import type { ClusterFacts, HealthExpectations } from './health-facts.js';

export type HealthStatus = 'healthy' | 'degraded' | 'down';

export interface HealthVerdict {
  readonly status: HealthStatus;
  readonly problems: readonly string[];
  /** Highest minus lowest raft index among the members that answered. */
  readonly raftIndexSpread: number | undefined;
}

export const exitCodes: Readonly<Record<HealthStatus, number>> = { healthy: 0, degraded: 1, down: 2 };

export function assessHealth(facts: ClusterFacts, expect: HealthExpectations): HealthVerdict {
  const down: string[] = [];
  const degraded: string[] = [];

  if (facts.membersProblem !== undefined) down.push(facts.membersProblem);
  const members = facts.members;
  const healthy = members.filter((member) => member.healthy);
  const quorum = Math.floor(members.length / 2) + 1;
  if (members.length > 0 && healthy.length < quorum) {
    down.push(`only ${healthy.length} of ${members.length} members are healthy; a quorum needs ${quorum}`);
  }
  if (members.length > 0 && facts.leader === undefined) down.push('the cluster reports no leader');
  for (const member of members) {
    if (!member.healthy) degraded.push(`member ${member.name || member.id} (${member.clientUrl ?? 'no client URL'}) is not healthy: ${member.problem ?? 'unknown reason'}`);
  }

  const versions = new Set(healthy.map((member) => member.version).filter((version) => version !== undefined));
  if (versions.size > 1) degraded.push(`members run different etcd versions: ${[...versions].sort().join(', ')}`);
  const leaders = new Set(healthy.map((member) => member.leaderId).filter((id) => id !== undefined));
  if (leaders.size > 1) degraded.push(`members disagree on the leader: ${[...leaders].sort().join(', ')}`);

  const raftIndexes = healthy.map((member) => member.raftIndex).filter((index): index is number => index !== undefined);
  const raftIndexSpread = raftIndexes.length === 0 ? undefined : Math.max(...raftIndexes) - Math.min(...raftIndexes);
  if (raftIndexSpread !== undefined && raftIndexSpread > expect.maxRaftSpread) {
    degraded.push(`raft indexes differ by ${raftIndexSpread} across members (limit ${expect.maxRaftSpread}): a member is falling behind`);
  }

  for (const proxy of facts.proxies) {
    for (const report of proxy.reports ?? []) degraded.push(`proxy ${proxy.url} reports: ${report}`);
    if (proxy.problem !== undefined) degraded.push(`proxy ${proxy.url}: ${proxy.problem}`);
    else if (expect.readOnly !== undefined && proxy.readOnly !== expect.readOnly) {
      degraded.push(`proxy ${proxy.url} has read-only ${String(proxy.readOnly)}, expected ${String(expect.readOnly)}`);
    }
  }

  if (facts.mirror !== undefined) {
    if (facts.mirror.problem !== undefined) degraded.push(`mirror ${facts.mirror.url}: ${facts.mirror.problem}`);
    if (facts.mirror.status !== undefined) degraded.push(...mirrorProblems(facts.mirror.status, expect.maxMirrorLag));
  }

  const status: HealthStatus = down.length > 0 ? 'down' : degraded.length > 0 ? 'degraded' : 'healthy';
  return { status, problems: [...down, ...degraded], raftIndexSpread };
}
