// `etcd-warden health`: the cluster check operators type by hand today, as
// one command with nagios-style exit codes: 0 healthy, 1 degraded, 2 down,
// 3 the command itself was wrong (usage, an unreadable --ca-file).
import { booleanFlag, integerFlag, runCommand, switchFlag, textFlag, tlsFlags, tlsMaterial, urlFlag, urlListFlag, UsageError, type CommandIo } from './flags.js';
import { assessHealth, exitCodes, type HealthVerdict } from './health-assess.js';
import type { ClusterFacts, HealthExpectations } from './health-facts.js';
import { probeCluster } from './health-probe.js';
import { createProber } from './probe.js';

export const healthUsage = `usage: etcd-warden health --endpoints URL[,URL...] [--json] [--ca-file FILE] [--cert-file FILE --key-file FILE]
                          [--proxy-health URL[,URL...]] [--expect-read-only true|false]
                          [--mirror URL] [--max-raft-spread 100] [--max-mirror-lag 100] [--timeout-ms 5000]
  --endpoints       etcd client URLs (direct or through the proxy); every member is found from /v2/members
  --proxy-health    the proxy's metrics address (http://127.0.0.1:9181 or .../healthz), for its read-only state
  --mirror          a mirror's status port (http://127.0.0.1:8000), for its state and lag
  --ca-file         the CA that signed etcd's (or the proxy's) certificate (--ca is the same); --cert-file/--key-file a client certificate
  exit 0 healthy, 1 degraded, 2 down, 3 usage error`;

const healthFlags = {
  endpoints: urlListFlag('--endpoints'),
  ...tlsFlags,
  // --ca was health's own spelling before the TLS family: kept as an alias.
  caFile: textFlag('--ca-file', '--ca'),
  proxyHealth: urlListFlag('--proxy-health').or([]),
  expectReadOnly: booleanFlag('--expect-read-only'),
  mirror: urlFlag('--mirror'),
  maxRaftSpread: integerFlag('--max-raft-spread').or(100),
  maxMirrorLag: integerFlag('--max-mirror-lag').or(100),
  timeoutMs: integerFlag('--timeout-ms').or(5_000),
  json: switchFlag('--json'),
};

export function healthCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  return runCommand(argv, { name: 'health', usage: healthUsage, flags: healthFlags, usageExitCode: 3 }, io, async ({ flags, positional }) => {
    if (positional.length > 0) throw new UsageError(`unexpected argument ${positional[0] ?? ''}`);
    if (flags.endpoints === undefined) throw new UsageError('--endpoints is required');
    // The read-only switch lives in the proxy, not in etcd: without the
    // proxy's address there is nothing to check it against.
    if (flags.expectReadOnly !== undefined && flags.proxyHealth.length === 0) throw new UsageError('--expect-read-only needs --proxy-health (the proxy\'s metrics address)');
    const tls = await tlsMaterial(flags);

    const expectations: HealthExpectations = {
      maxRaftSpread: flags.maxRaftSpread,
      maxMirrorLag: flags.maxMirrorLag,
      ...(flags.expectReadOnly === undefined ? {} : { readOnly: flags.expectReadOnly }),
    };
    const prober = createProber({ timeoutMs: flags.timeoutMs, tls });
    let facts: ClusterFacts;
    try {
      facts = await probeCluster(prober, { endpoints: flags.endpoints, proxies: flags.proxyHealth, ...(flags.mirror === undefined ? {} : { mirror: flags.mirror }) });
    } finally {
      await prober.close();
    }
    const verdict = assessHealth(facts, expectations);
    io.out.write(flags.json ? JSON.stringify({ status: verdict.status, problems: verdict.problems, raftIndexSpread: verdict.raftIndexSpread ?? null, ...facts }) + '\n' : formatHealth(facts, verdict, expectations));
    return exitCodes[verdict.status];
  });
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
