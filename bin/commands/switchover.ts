// `etcd-warden switchover ...`: flags → SwitchoverOptions → runSwitchover.
// Exit 0 done (or a clean dry run), 1 a step refused, 2 usage.
import { normalizePrefix } from '../../mirror/etcd/keys.js';
import { integerFlag, parseFlags, urlListFlag } from './flags.js';
import { createProber } from './probe.js';
import { runSwitchover } from './switchover-steps.js';

export const switchoverUsage = `usage: etcd-warden switchover --old-primary URL --new-primary URL --src-prefix P --dst-prefix P [--strip]
                              [--src-ignore-keys-regex RE] [--old-primary-proxy-health URL[,URL...] | --assume-read-only]
                              [--mirror URL] [--timeout-ms 120000] [--dry-run]
  --old-primary     the old primary's etcd client URL itself (the reverse index is written there; its proxy is read-only)
  --new-primary     the new primary (its etcd or its proxy: only read)
  --src-prefix/--dst-prefix/--strip/--src-ignore-keys-regex   the forward mirror's own flags
  --old-primary-proxy-health   metrics address of every proxy in front of the old primary, to prove it is read-only
  --mirror          the forward mirror's status port, to check its state and lag too
  exit 0 done, 1 a step refused (the reason is printed), 2 usage`;

export async function switchoverCommand(argv: string[], out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    out.write(switchoverUsage + '\n');
    return 0;
  }
  const flags = parseFlags(argv, {
    values: ['--old-primary', '--new-primary', '--src-prefix', '--dst-prefix', '--src-ignore-keys-regex', '--old-primary-proxy-health', '--mirror', '--timeout-ms'],
    switches: ['--strip', '--dry-run', '--assume-read-only'],
  });
  if ('error' in flags) return usage(err, flags.error);
  if (flags.positional.length > 0) return usage(err, `unexpected argument ${flags.positional[0] ?? ''}`);
  const url = (name: string): string | { error: string } => {
    const raw = flags.values.get(name);
    if (raw === undefined) return { error: `${name} is required` };
    const urls = urlListFlag(raw, name);
    if ('error' in urls) return urls;
    return urls.length === 1 && urls[0] !== undefined ? urls[0] : { error: `${name} takes one URL` };
  };
  const oldPrimary = url('--old-primary');
  if (typeof oldPrimary !== 'string') return usage(err, oldPrimary.error);
  const newPrimary = url('--new-primary');
  if (typeof newPrimary !== 'string') return usage(err, newPrimary.error);
  // No defaults: a switchover with etcdmirror's default /replica prefix by
  // accident would verify and record the wrong subtree.
  const prefixes: string[] = [];
  for (const name of ['--src-prefix', '--dst-prefix']) {
    const raw = flags.values.get(name);
    const prefix = raw === undefined ? undefined : normalizePrefix(raw);
    if (prefix === undefined) return usage(err, `${name} is required: an absolute key path such as /conftool`);
    prefixes.push(prefix);
  }
  const [srcPrefix, dstPrefix] = prefixes;
  if (srcPrefix === undefined || dstPrefix === undefined) return usage(err, '--src-prefix and --dst-prefix are required');
  let ignore: RegExp | undefined;
  const ignoreRaw = flags.values.get('--src-ignore-keys-regex');
  try {
    if (ignoreRaw !== undefined) ignore = new RegExp(ignoreRaw);
  } catch (error) {
    return usage(err, `--src-ignore-keys-regex: ${(error as Error).message}`);
  }
  const healthRaw = flags.values.get('--old-primary-proxy-health');
  const proxies = healthRaw === undefined ? [] : urlListFlag(healthRaw, '--old-primary-proxy-health');
  if ('error' in proxies) return usage(err, proxies.error);
  if (proxies.length > 0 && flags.switches.has('--assume-read-only')) return usage(err, 'give either --old-primary-proxy-health or --assume-read-only, not both');
  const mirror = flags.values.has('--mirror') ? url('--mirror') : undefined;
  if (mirror !== undefined && typeof mirror !== 'string') return usage(err, mirror.error);
  const timeoutMs = integerFlag(flags, '--timeout-ms', 120_000);
  if (typeof timeoutMs !== 'number') return usage(err, timeoutMs.error);

  const prober = createProber();
  try {
    return await runSwitchover(
      {
        oldPrimary,
        newPrimary,
        mapping: { srcPrefix, dstPrefix, strip: flags.switches.has('--strip') },
        oldPrimaryProxyHealth: proxies,
        assumeReadOnly: flags.switches.has('--assume-read-only'),
        timeoutMs,
        dryRun: flags.switches.has('--dry-run'),
        ...(ignore === undefined ? {} : { ignore }),
        ...(mirror === undefined ? {} : { mirror }),
      },
      prober,
      out,
    );
  } finally {
    await prober.close();
  }
}

function usage(err: NodeJS.WritableStream, problem: string): number {
  err.write(`etcd-warden switchover: ${problem}\n${switchoverUsage}\n`);
  return 2;
}
