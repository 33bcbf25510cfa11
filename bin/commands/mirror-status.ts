// `etcd-warden mirror-status URL [--json] [--max-lag N]`: a running mirror's
// state in one screen. Exit 0 replicating within limits, 1 degraded
// (resyncing, stopped, lagging, no source contact), 2 unreachable, 3 usage.
import { mirrorProblems, readMirrorStatus, type MirrorStatus } from './mirror-status-read.js';
import { integerFlag, parseFlags, urlListFlag } from './flags.js';
import { createProber } from './probe.js';

export const mirrorStatusUsage = 'usage: etcd-warden mirror-status URL [--json] [--max-lag 100]   (URL: the mirror\'s status port, e.g. http://127.0.0.1:8000)';

export async function mirrorStatusCommand(argv: string[], out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    out.write(mirrorStatusUsage + '\n');
    return 0;
  }
  const flags = parseFlags(argv, { values: ['--max-lag'], switches: ['--json'] });
  if ('error' in flags) return usage(err, flags.error);
  const maxLag = integerFlag(flags, '--max-lag', 100);
  if (typeof maxLag !== 'number') return usage(err, maxLag.error);
  if (flags.positional.length !== 1) return usage(err, 'exactly one URL is needed');
  const urls = urlListFlag(flags.positional[0] ?? '', 'URL');
  if ('error' in urls) return usage(err, urls.error);
  const url = urls[0] ?? '';

  const prober = createProber();
  try {
    let status: MirrorStatus;
    try {
      status = await readMirrorStatus(prober, url);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      if (flags.switches.has('--json')) out.write(JSON.stringify({ status: 'down', url, problems: [`mirror unreachable: ${reason}`] }) + '\n');
      else out.write(`mirror ${url}: unreachable: ${reason}\n`);
      return 2;
    }
    const problems = mirrorProblems(status, maxLag);
    if (flags.switches.has('--json')) {
      out.write(JSON.stringify({ status: problems.length === 0 ? 'healthy' : 'degraded', ...status, problems }) + '\n');
    } else {
      out.write(formatMirrorStatus(status));
      for (const problem of problems) out.write(`  problem: ${problem}\n`);
    }
    return problems.length === 0 ? 0 : 1;
  } finally {
    await prober.close();
  }
}

export function formatMirrorStatus(status: MirrorStatus): string {
  const known = (value: number | undefined, suffix = ''): string => (value === undefined ? 'unknown' : `${Math.round(value * 10) / 10}${suffix}`);
  const resyncs = Object.entries(status.resyncs).map(([reason, count]) => `${reason} ${count}`).join(', ');
  return [
    `mirror ${status.url}`,
    `  state                       ${status.state}`,
    `  lag                         ${status.lag} (source index minus replicated index)`,
    `  last replicated index       ${known(status.lastReplicatedIndex)}`,
    `  source index                ${known(status.sourceIndex)}`,
    `  since source contact        ${known(status.secondsSinceSourceContact, ' s')}`,
    `  resyncs                     ${resyncs === '' ? 'none' : resyncs}`,
    `  strict failures             ${known(status.strictFailures)}`,
    `  replicated events           ${known(status.replicatedEvents)}`,
    '',
  ].join('\n');
}

function usage(err: NodeJS.WritableStream, problem: string): number {
  err.write(`etcd-warden mirror-status: ${problem}\n${mirrorStatusUsage}\n`);
  return 3;
}
