// `etcd-warden mirror ...`: etcdmirror's command line (wikimedia's
// operations-software-etcd-mirror main.py), flag for flag, so an existing
// systemd unit can switch binaries without edits; then the mirror process.
import { mirrorDefaults, mirrorLogLevels, type MirrorOptions } from '../../mirror/options.js';
import { runMirrorProcess } from '../../mirror/process.js';
import {
  choiceFlag, httpUrl, integerFlag, prefixFlag, readCommandLine, regexFlag, runCommand, switchFlag, textFlag, UsageError, type CommandIo, type FlagValues,
} from './flags.js';

export const mirrorUsage =
  'usage: etcd-warden mirror [--reload] [--src-prefix P] [--strip] [--dst-prefix P] ' +
  '[--src-ignore-keys-regex RE] [--port 8000] [--status-host 0.0.0.0] ' +
  '[--on-index-cleared resync|exit] [--idle-renew-ms 10000] [--log-level info] SRC_URL DST_URL\n' +
  'SRC_URL and DST_URL may instead come from ETCD_WARDEN_MIRROR_SRC and ETCD_WARDEN_MIRROR_DST ' +
  '(keeps credentials out of `ps`).';

/** Which keys go where: shared with mirror-verify, which must read a replica as the mirror wrote it. */
export const mirrorMappingFlags = {
  srcPrefix: prefixFlag('--src-prefix').or(mirrorDefaults.srcPrefix),
  dstPrefix: prefixFlag('--dst-prefix').or(mirrorDefaults.dstPrefix),
  strip: switchFlag('--strip'),
  srcIgnoreKeysRegex: regexFlag('--src-ignore-keys-regex'),
};

const mirrorFlags = {
  ...mirrorMappingFlags,
  reload: switchFlag('--reload'),
  port: integerFlag('--port', { max: 65535 }).or(mirrorDefaults.port),
  statusHost: textFlag('--status-host').or(mirrorDefaults.statusHost),
  onIndexCleared: choiceFlag('--on-index-cleared', ['resync', 'exit'] as const).or(mirrorDefaults.onIndexCleared),
  idleRenewMs: integerFlag('--idle-renew-ms', { min: 100 }).or(mirrorDefaults.idleRenewMs),
  logLevel: choiceFlag('--log-level', mirrorLogLevels).or(mirrorDefaults.logLevel),
  debug: switchFlag('--debug', '-d'),
};

export function mirrorCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  return runCommand(argv, { name: 'mirror', usage: mirrorUsage, flags: mirrorFlags, usageExitCode: 2 }, io, async ({ flags, positional }) =>
    runMirrorProcess(mirrorOptions(flags, positional, process.env)),
  );
}

/** The mirror's options from its command line; `env` may hold the URLs instead. Throws UsageError. */
export function mirrorOptions(flags: FlagValues<typeof mirrorFlags>, positional: readonly string[], env: Readonly<Record<string, string | undefined>>): MirrorOptions {
  const { src, dst } = mirrorEndpoints(positional, env);
  return {
    src,
    dst,
    srcPrefix: flags.srcPrefix,
    dstPrefix: flags.dstPrefix,
    strip: flags.strip,
    port: flags.port,
    statusHost: flags.statusHost,
    reload: flags.reload,
    onIndexCleared: flags.onIndexCleared,
    idleRenewMs: flags.idleRenewMs,
    logLevel: flags.debug ? 'debug' : flags.logLevel,
    ...(flags.srcIgnoreKeysRegex === undefined ? {} : { srcIgnoreKeysRegex: flags.srcIgnoreKeysRegex }),
  };
}

/** The mirror's whole command line read at once, or the problem with it. */
export function parseMirrorArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = process.env): MirrorOptions | { error: string } {
  try {
    const { flags, positional } = readCommandLine(argv, mirrorFlags);
    return mirrorOptions(flags, positional, env);
  } catch (error) {
    if (error instanceof UsageError) return { error: error.message };
    throw error;
  }
}

/** SRC_URL and DST_URL, positional or from ETCD_WARDEN_MIRROR_SRC/_DST. Throws UsageError. */
export function mirrorEndpoints(positional: readonly string[], env: Readonly<Record<string, string | undefined>>): { src: string; dst: string } {
  if (positional.length > 2) throw new UsageError(`unexpected argument ${positional[2] ?? ''}`);
  const src = positional[0] ?? env.ETCD_WARDEN_MIRROR_SRC;
  const dst = positional[1] ?? env.ETCD_WARDEN_MIRROR_DST;
  if (src === undefined || src === '') throw new UsageError('SRC_URL is required (or ETCD_WARDEN_MIRROR_SRC)');
  if (dst === undefined || dst === '') throw new UsageError('DST_URL is required (or ETCD_WARDEN_MIRROR_DST)');
  return { src: httpUrl(src, 'SRC_URL'), dst: httpUrl(dst, 'DST_URL') };
}
