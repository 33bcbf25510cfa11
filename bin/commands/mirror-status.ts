// `etcd-warden mirror-status URL [--json] [--max-lag N]`: a running mirror's
// state in one screen, v2, v3 or v2 → v3, and why it stopped if it did.
// Exit 0 replicating within limits, 1 degraded (resyncing, stopped, lagging,
// no source contact), 2 unreachable, 3 usage.
import { httpUrls, integerFlag, positionalArguments, runCommand, switchFlag, tlsFlags, tlsMaterial, type CommandIo } from './flags.js';
import { mirrorProblems, readMirrorStatus, type MirrorStatus } from './mirror-status-read.js';
import { createProber } from './probe.js';

export const mirrorStatusUsage =
  'usage: etcd-warden mirror-status URL [--json] [--max-lag 100] [--ca-file F] [--cert-file F --key-file F]\n' +
  '  URL: the mirror\'s status port, e.g. http://127.0.0.1:8000 (the TLS files for one behind an https front)';

const mirrorStatusFlags = { ...tlsFlags, maxLag: integerFlag('--max-lag').or(100), json: switchFlag('--json') };

export function mirrorStatusCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  return runCommand(argv, { name: 'mirror-status', usage: mirrorStatusUsage, flags: mirrorStatusFlags, usageExitCode: 3 }, io, async ({ flags, positional }) => {
    const [given = ''] = positionalArguments(positional, ['URL']);
    const [url = ''] = httpUrls(given, 'URL');
    const prober = createProber({ tls: await tlsMaterial(flags) });
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
  // A v3 source counts revisions; a v2 source (v2 → v2, v2 → v3) indexes.
  const unit = status.api === 'v3' ? 'revision' : 'index';
  const stop = status.stop;
  return [
    `mirror ${status.url}`,
    `  api                         ${status.api ?? 'unknown'}`,
    `  state                       ${status.state}`,
    `  lag                         ${status.lag} (source ${unit} minus replicated ${unit})`,
    `  last replicated ${unit.padEnd(12)}${known(status.lastReplicatedIndex)}`,
    `  source ${unit.padEnd(21)}${known(status.sourceIndex)}`,
    `  since source contact        ${known(status.secondsSinceSourceContact, ' s')}`,
    `  resyncs                     ${resyncs === '' ? 'none' : resyncs}`,
    `  strict failures             ${known(status.strictFailures)}`,
    `  replicated events           ${known(status.replicatedEvents)}`,
    ...(stop === undefined
      ? []
      : [
          `  stopped at                  ${stop.at}: ${stop.reason}`,
          ...(stop.key === undefined ? [] : [`  key                         ${stop.key}`]),
          ...(stop.source === undefined ? [] : [`  source held before          ${stop.source}`]),
          ...(stop.replica === undefined ? [] : [`  replica holds               ${stop.replica}`]),
          ...(stop.index === undefined ? [] : [`  at source ${unit.padEnd(18)}${stop.index}${stop.action === undefined ? '' : ` (${stop.action})`}`]),
          '  replication stays stopped until the mirror is restarted: `etcd-warden mirror-verify` with its flags, then once with --reload to repair',
        ]),
    '',
  ].join('\n');
}
