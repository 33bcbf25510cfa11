// Gathers a cluster's facts over HTTP: the member list from the first
// endpoint that answers, then every member's own /health, /version,
// /v2/stats/self and a root GET for its X-Raft-Index, the proxy's /healthz
// and the mirror's status. Every probe has a finite timeout; a failure
// becomes a `problem`, never an exception, so one dead member cannot hide the
// state of the others.
import { readMirrorStatus } from './mirror-status-read.js';
import { jsonBody, type ProbeAnswer, type Prober } from './probe.js';
import type { ClusterFacts, MemberFacts, MirrorFacts, ProxyFacts } from './health-facts.js';

interface MemberListing {
  id: string;
  name: string;
  clientURLs: string[];
}

const reason = (error: unknown): string => (error instanceof Error ? error.message : String(error));
const base = (url: string): string => url.replace(/\/+$/, '');
const header = (answer: ProbeAnswer, name: string): number | undefined => {
  const value = Number(answer.headers[name]);
  return Number.isFinite(value) && answer.headers[name] !== undefined ? value : undefined;
};

function parseMember(value: unknown): MemberListing | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const member = value as Record<string, unknown>;
  if (typeof member.id !== 'string') return undefined;
  const urls = Array.isArray(member.clientURLs) ? member.clientURLs.filter((url): url is string => typeof url === 'string') : [];
  return { id: member.id, name: typeof member.name === 'string' ? member.name : '', clientURLs: urls };
}

async function memberList(prober: Prober, endpoints: readonly string[]): Promise<{ endpoint: string; members: MemberListing[]; clusterId?: string } | { problem: string }> {
  const failures: string[] = [];
  for (const endpoint of endpoints) {
    try {
      const answer = await prober.get(`${base(endpoint)}/v2/members`);
      const body = jsonBody(answer) as { members?: unknown } | undefined;
      if (answer.status !== 200 || !Array.isArray(body?.members)) {
        failures.push(`${endpoint}: /v2/members answered HTTP ${answer.status}`);
        continue;
      }
      const members = body.members.map(parseMember).filter((member): member is MemberListing => member !== undefined);
      const clusterId = answer.headers['x-etcd-cluster-id'];
      return { endpoint, members, ...(clusterId === undefined ? {} : { clusterId }) };
    } catch (error) {
      failures.push(`${endpoint}: ${reason(error)}`);
    }
  }
  return { problem: `no endpoint answered /v2/members (${failures.join('; ')})` };
}

async function probeMember(prober: Prober, member: MemberListing): Promise<MemberFacts> {
  const identity = { id: member.id, name: member.name };
  let lastProblem = 'it advertises no client URL (added but never started?)';
  for (const clientUrl of member.clientURLs) {
    const url = base(clientUrl);
    let health: ProbeAnswer;
    try {
      health = await prober.get(`${url}/health`);
    } catch (error) {
      lastProblem = `unreachable: ${reason(error)}`;
      continue;
    }
    const said = jsonBody(health) as { health?: unknown; reason?: unknown } | undefined;
    const healthy = health.status === 200 && said?.health === 'true';
    const facts: MemberFacts = {
      ...identity,
      clientUrl,
      healthy,
      ...(healthy ? {} : { problem: `/health answered HTTP ${health.status} ${health.body.trim().slice(0, 200)}` }),
    };
    const [version, stats, root] = await Promise.allSettled([prober.get(`${url}/version`), prober.get(`${url}/v2/stats/self`), prober.get(`${url}/v2/keys/`)]);
    const versionBody = version.status === 'fulfilled' ? (jsonBody(version.value) as { etcdserver?: unknown; etcdcluster?: unknown } | undefined) : undefined;
    const statsBody = stats.status === 'fulfilled' ? (jsonBody(stats.value) as { leaderInfo?: { leader?: unknown } } | undefined) : undefined;
    const raftIndex = root.status === 'fulfilled' ? header(root.value, 'x-raft-index') : undefined;
    const raftTerm = root.status === 'fulfilled' ? header(root.value, 'x-raft-term') : undefined;
    const leaderId = statsBody?.leaderInfo?.leader;
    return {
      ...facts,
      ...(typeof versionBody?.etcdserver === 'string' ? { version: versionBody.etcdserver } : {}),
      ...(typeof versionBody?.etcdcluster === 'string' ? { clusterVersion: versionBody.etcdcluster } : {}),
      ...(raftIndex === undefined ? {} : { raftIndex }),
      ...(raftTerm === undefined ? {} : { raftTerm }),
      ...(typeof leaderId === 'string' && leaderId !== '' ? { leaderId } : {}),
    };
  }
  return { ...identity, clientUrl: member.clientURLs[0], healthy: false, problem: lastProblem };
}

async function leaderOf(prober: Prober, endpoint: string, members: readonly MemberListing[]): Promise<{ id: string; name: string } | undefined> {
  try {
    const answer = await prober.get(`${base(endpoint)}/v2/members/leader`);
    const leader = answer.status === 200 ? parseMember(jsonBody(answer)) : undefined;
    if (leader !== undefined) return { id: leader.id, name: leader.name || (members.find((member) => member.id === leader.id)?.name ?? '') };
  } catch {
    // An endpoint that just answered /v2/members and now fails: no leader known.
  }
  return undefined;
}

/** The proxy's metrics address may be given as its base or as its /healthz page. */
export function proxyHealthUrl(url: string): string {
  const parsed = new URL(url);
  if (parsed.pathname === '/' || parsed.pathname === '') parsed.pathname = '/healthz';
  return parsed.toString();
}

export async function probeProxy(prober: Prober, url: string): Promise<ProxyFacts> {
  try {
    const answer = await prober.get(proxyHealthUrl(url));
    const body = jsonBody(answer) as { readOnly?: unknown; openWatches?: unknown; problems?: unknown } | undefined;
    if (answer.status !== 200 || typeof body?.readOnly !== 'boolean') {
      return { url, problem: `/healthz answered HTTP ${answer.status} without a readOnly field: is this the proxy's metrics address?` };
    }
    const reports = Array.isArray(body.problems) ? body.problems.filter((problem): problem is string => typeof problem === 'string') : [];
    return {
      url,
      readOnly: body.readOnly,
      ...(typeof body.openWatches === 'number' ? { openWatches: body.openWatches } : {}),
      ...(reports.length === 0 ? {} : { reports }),
    };
  } catch (error) {
    return { url, problem: `unreachable: ${reason(error)}` };
  }
}

async function probeMirror(prober: Prober, url: string): Promise<MirrorFacts> {
  try {
    return { url, status: await readMirrorStatus(prober, url) };
  } catch (error) {
    return { url, problem: `unreachable: ${reason(error)}` };
  }
}

export async function probeCluster(
  prober: Prober,
  targets: { endpoints: readonly string[]; proxies: readonly string[]; mirror?: string },
): Promise<ClusterFacts> {
  const [listing, proxies, mirror] = await Promise.all([
    memberList(prober, targets.endpoints),
    Promise.all(targets.proxies.map((url) => probeProxy(prober, url))),
    targets.mirror === undefined ? Promise.resolve(undefined) : probeMirror(prober, targets.mirror),
  ]);
  const common = { endpoints: targets.endpoints, proxies, ...(mirror === undefined ? {} : { mirror }) };
  if ('problem' in listing) return { ...common, membersProblem: listing.problem, members: [] };
  const [members, leader] = await Promise.all([
    Promise.all(listing.members.map((member) => probeMember(prober, member))),
    leaderOf(prober, listing.endpoint, listing.members),
  ]);
  return {
    ...common,
    members,
    ...(listing.clusterId === undefined ? {} : { clusterId: listing.clusterId }),
    ...(leader === undefined ? {} : { leader }),
  };
}
