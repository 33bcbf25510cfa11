// `etcd-warden mirror-status URL [--json] [--max-lag N]`: a running mirror's
// state in one screen. Exit 0 replicating within limits, 1 degraded
// (resyncing, stopped, lagging, no source contact), 2 unreachable, 3 usage.
import { httpUrls, integerFlag, positionalArguments, runCommand, switchFlag, type CommandIo } from './flags.js';
import { mirrorProblems, readMirrorStatus, type MirrorStatus } from './mirror-status-read.js';
import { createProber } from './probe.js';

export const mirrorStatusUsage = 'usage: etcd-warden mirror-status URL [--json] [--max-lag 100]   (URL: the mirror\'s status port, e.g. http://127.0.0.1:8000)';

const mirrorStatusFlags = { maxLag: integerFlag('--max-lag').or(100), json: switchFlag('--json') };

export function mirrorStatusCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  return runCommand(argv, { name: 'mirror-status', usage: mirrorStatusUsage, flags: mirrorStatusFlags, usageExitCode: 3 }, io, async ({ flags, positional }) => {
    const [given = ''] = positionalArguments(positional, ['URL']);
    const [url = ''] = httpUrls(given, 'URL');
    const prober = createProber();
    try {
      let status: MirrorStatus;
      try {
        status = await readMirrorStatus(prober, url);
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        if (flags.json) io.out.write(JSON.stringify({ status: 'down', url, problems: [`mirror unreachable: ${reason}`] }) + '\n');
        else io.out.write(`mirror ${url}: unreachable: ${reason}\n`);
        return 2;
      }
      const problems = mirrorProblems(status, flags.maxLag);
      if (flags.json) {
        io.out.write(JSON.stringify({ status: problems.length === 0 ? 'healthy' : 'degraded', ...status, problems }) + '\n');
      } else {
        io.out.write(formatMirrorStatus(status));
        for (const problem of problems) io.out.write(`  problem: ${problem}\n`);
      }
      return problems.length === 0 ? 0 : 1;
    } finally {
      await prober.close();
    }
  });
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
