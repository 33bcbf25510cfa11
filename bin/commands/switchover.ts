// `etcd-warden switchover ...`: flags → SwitchoverOptions → runSwitchover.
// Exit 0 done (or a clean dry run), 1 a step refused, 2 usage.
import { integerFlag, prefixFlag, regexFlag, runCommand, sideTlsFlags, sideTlsMaterial, switchFlag, tlsMaterial, urlFlag, urlListFlag, UsageError, type CommandIo } from './flags.js';
import { createProber } from './probe.js';
import { runSwitchover } from './switchover-steps.js';

export const switchoverUsage = `usage: etcd-warden switchover --old-primary URL --new-primary URL --src-prefix P --dst-prefix P [--strip]
                              [--src-ignore-keys-regex RE] [--old-primary-proxy-health URL[,URL...] | --assume-read-only]
                              [--mirror URL] [--timeout-ms 120000] [--dry-run] [the TLS files, as the mirror's]
  --old-primary     the old primary's etcd client URL itself (the reverse index is written there; its proxy is read-only)
  --new-primary     the new primary (its etcd or its proxy: only read)
  --src-prefix/--dst-prefix/--strip/--src-ignore-keys-regex   the forward mirror's own flags
  --old-primary-proxy-health   metrics address of every proxy in front of the old primary, to prove it is read-only
  --mirror          the forward mirror's status port, to check its state and lag too
  --ca-file/--cert-file/--key-file   TLS for every peer; --src-… for the old primary and --dst-… for the new one win
  exit 0 done, 1 a step refused (the reason is printed), 2 usage`;

// No defaults for the prefixes: a switchover with etcdmirror's default
// /replica prefix by accident would verify and record the wrong subtree.
const switchoverFlags = {
  ...sideTlsFlags,
  oldPrimary: urlFlag('--old-primary'),
  newPrimary: urlFlag('--new-primary'),
  srcPrefix: prefixFlag('--src-prefix'),
  dstPrefix: prefixFlag('--dst-prefix'),
  strip: switchFlag('--strip'),
  srcIgnoreKeysRegex: regexFlag('--src-ignore-keys-regex'),
  oldPrimaryProxyHealth: urlListFlag('--old-primary-proxy-health').or([]),
  assumeReadOnly: switchFlag('--assume-read-only'),
  mirror: urlFlag('--mirror'),
  timeoutMs: integerFlag('--timeout-ms').or(120_000),
  dryRun: switchFlag('--dry-run'),
};

export function switchoverCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  return runCommand(argv, { name: 'switchover', usage: switchoverUsage, flags: switchoverFlags, usageExitCode: 2 }, io, async ({ flags, positional }) => {
    if (positional.length > 0) throw new UsageError(`unexpected argument ${positional[0] ?? ''}`);
    const { oldPrimary, newPrimary, srcPrefix, dstPrefix, srcIgnoreKeysRegex: ignore, mirror } = flags;
    if (oldPrimary === undefined) throw new UsageError('--old-primary is required');
    if (newPrimary === undefined) throw new UsageError('--new-primary is required');
    if (srcPrefix === undefined) throw new UsageError('--src-prefix is required: an absolute key path such as /conftool');
    if (dstPrefix === undefined) throw new UsageError('--dst-prefix is required: an absolute key path such as /conftool');
    if (flags.oldPrimaryProxyHealth.length > 0 && flags.assumeReadOnly) throw new UsageError('give either --old-primary-proxy-health or --assume-read-only, not both');

    // The old primary is the forward mirror's source, the new one its destination.
    const tls = await sideTlsMaterial(flags);
    const probers = { oldPrimary: createProber({ tls: tls.src }), newPrimary: createProber({ tls: tls.dst }), status: createProber({ tls: await tlsMaterial(flags) }) };
    try {
      return await runSwitchover(
        {
          tls,
          oldPrimary,
          newPrimary,
          mapping: { srcPrefix, dstPrefix, strip: flags.strip },
          oldPrimaryProxyHealth: flags.oldPrimaryProxyHealth,
          assumeReadOnly: flags.assumeReadOnly,
          timeoutMs: flags.timeoutMs,
          dryRun: flags.dryRun,
          ...(ignore === undefined ? {} : { ignore }),
          ...(mirror === undefined ? {} : { mirror }),
        },
        probers,
        io.out,
      );
    } finally {
      await Promise.all(Object.values(probers).map((prober) => prober.close()));
    }
  });
}
