// `etcd-warden health`: the cluster check operators type by hand today, as
// one command with nagios-style exit codes: 0 healthy, 1 degraded, 2 down,
// 3 the command itself was wrong (usage, unreadable --ca).
import { readFile } from 'node:fs/promises';
import { integerFlag, parseFlags, urlListFlag } from './flags.js';
import { createProber } from './probe.js';
import { assessHealth, exitCodes, type HealthVerdict } from './health-assess.js';
import type { ClusterFacts, HealthExpectations } from './health-facts.js';
import { probeCluster } from './health-probe.js';

export const healthUsage = `usage: etcd-warden health --endpoints URL[,URL...] [--json] [--ca FILE]
                          [--proxy-health URL[,URL...]] [--expect-read-only true|false]
                          [--mirror URL] [--max-raft-spread 100] [--max-mirror-lag 100] [--timeout-ms 5000]
  --endpoints       etcd client URLs (direct or through the proxy); every member is found from /v2/members
  --proxy-health    the proxy's metrics address (http://127.0.0.1:9181 or .../healthz), for its read-only state
  --mirror          a mirror's status port (http://127.0.0.1:8000), for its state and lag
  exit 0 healthy, 1 degraded, 2 down, 3 usage error`;

export async function healthCommand(argv: string[], out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    out.write(healthUsage + '\n');
    return 0;
  }
  const flags = parseFlags(argv, {
    values: ['--endpoints', '--ca', '--proxy-health', '--expect-read-only', '--mirror', '--max-raft-spread', '--max-mirror-lag', '--timeout-ms'],
    switches: ['--json'],
  });
  if ('error' in flags) return usage(err, flags.error);
  if (flags.positional.length > 0) return usage(err, `unexpected argument ${flags.positional[0] ?? ''}`);
  const rawEndpoints = flags.values.get('--endpoints');
  if (rawEndpoints === undefined) return usage(err, '--endpoints is required');
  const endpoints = urlListFlag(rawEndpoints, '--endpoints');
  if ('error' in endpoints) return usage(err, endpoints.error);
  const rawProxies = flags.values.get('--proxy-health');
  const proxies = rawProxies === undefined ? [] : urlListFlag(rawProxies, '--proxy-health');
  if ('error' in proxies) return usage(err, proxies.error);
  const rawMirror = flags.values.get('--mirror');
  const mirror = rawMirror === undefined ? undefined : urlListFlag(rawMirror, '--mirror');
  if (mirror !== undefined && 'error' in mirror) return usage(err, mirror.error);
  const expectRaw = flags.values.get('--expect-read-only');
  if (expectRaw !== undefined && expectRaw !== 'true' && expectRaw !== 'false') return usage(err, '--expect-read-only must be true or false');
  // The read-only switch lives in the proxy, not in etcd: without the
  // proxy's address there is nothing to check it against.
  if (expectRaw !== undefined && proxies.length === 0) return usage(err, '--expect-read-only needs --proxy-health (the proxy\'s metrics address)');
  const maxRaftSpread = integerFlag(flags, '--max-raft-spread', 100);
  const maxMirrorLag = integerFlag(flags, '--max-mirror-lag', 100);
  const timeoutMs = integerFlag(flags, '--timeout-ms', 5_000);
  if (typeof maxRaftSpread !== 'number') return usage(err, maxRaftSpread.error);
  if (typeof maxMirrorLag !== 'number') return usage(err, maxMirrorLag.error);
  if (typeof timeoutMs !== 'number') return usage(err, timeoutMs.error);
  let ca: Buffer | undefined;
  const caFile = flags.values.get('--ca');
  if (caFile !== undefined) {
    try {
      ca = await readFile(caFile);
    } catch (error) {
      return usage(err, `--ca: cannot read ${caFile}: ${(error as Error).message}`);
    }
  }

  const expectations: HealthExpectations = {
    maxRaftSpread,
    maxMirrorLag,
    ...(expectRaw === undefined ? {} : { readOnly: expectRaw === 'true' }),
  };
  const prober = createProber({ timeoutMs, ...(ca === undefined ? {} : { ca }) });
  let facts: ClusterFacts;
  try {
    facts = await probeCluster(prober, { endpoints, proxies, ...(mirror?.[0] === undefined ? {} : { mirror: mirror[0] }) });
  } finally {
    await prober.close();
  }
  const verdict = assessHealth(facts, expectations);
  out.write(flags.switches.has('--json') ? JSON.stringify({ status: verdict.status, problems: verdict.problems, raftIndexSpread: verdict.raftIndexSpread ?? null, ...facts }) + '\n' : formatHealth(facts, verdict, expectations));
  return exitCodes[verdict.status];
}

export function formatHealth(facts: ClusterFacts, verdict: HealthVerdict, expect: HealthExpectations): string {
  const lines = [`cluster ${facts.clusterId ?? '(unknown id)'}: ${verdict.status.toUpperCase()}`];
  for (const member of facts.members) {
    const details = [
      member.healthy ? 'healthy' : 'NOT HEALTHY',
      member.version === undefined ? undefined : `etcd ${member.version}`,
      member.raftIndex === undefined ? undefined : `raft index ${member.raftIndex} term ${member.raftTerm ?? '?'}`,
      facts.leader?.id === member.id ? 'leader' : undefined,
    ].filter((part) => part !== undefined);
    lines.push(`  member ${member.name || '(unnamed)'} ${member.id}  ${member.clientUrl ?? '(no client URL)'}  ${details.join(', ')}`);
  }
  if (facts.members.length > 0) {
    lines.push(`  leader ${facts.leader === undefined ? 'NONE' : `${facts.leader.name} ${facts.leader.id}`}`);
    lines.push(`  raft index spread ${verdict.raftIndexSpread ?? 'unknown'} (limit ${expect.maxRaftSpread})`);
  }
  for (const proxy of facts.proxies) {
    const expected = expect.readOnly === undefined ? '' : ` (expected ${String(expect.readOnly)})`;
    lines.push(`  proxy ${proxy.url}  ${proxy.problem ?? `read-only ${String(proxy.readOnly)}${expected}, ${proxy.openWatches ?? '?'} open watches`}`);
  }
  if (facts.mirror !== undefined) {
    const status = facts.mirror.status;
    lines.push(`  mirror ${facts.mirror.url}  ${facts.mirror.problem ?? (status === undefined ? '' : `${status.state}, lag ${status.lag}, last replicated index ${status.lastReplicatedIndex ?? '?'}`)}`);
  }
  for (const problem of verdict.problems) lines.push(`problem: ${problem}`);
  return lines.join('\n') + '\n';
}

function usage(err: NodeJS.WritableStream, problem: string): number {
  err.write(`etcd-warden health: ${problem}\n${healthUsage}\n`);
  return 3;
}
