// `etcd-warden mirror ...`: etcdmirror's command line (wikimedia's
// operations-software-etcd-mirror main.py), flag for flag, so an existing
// systemd unit can switch binaries without edits, plus the TLS family and the
// APIs (--api v3, --src-api v2 --dst-api v3); then the mirror process.
import { mirrorDefaults, mirrorLogLevels, type MirrorApi, type MirrorOptions } from '../../mirror/options.js';
import { runMirrorProcess } from '../../mirror/process.js';
import {
  choiceFlag, httpUrl, integerFlag, prefixFlag, readCommandLine, regexFlag, runCommand, sideTlsFlags, sideTlsMaterial, switchFlag, textFlag, UsageError, type CommandIo, type FlagValues,
} from './flags.js';

export const mirrorUsage =
  'usage: etcd-warden mirror [--api v2|v3 | --src-api v2|v3 --dst-api v2|v3] [--reload] [--src-prefix P] [--strip] [--dst-prefix P]\n' +
  '                          [--src-ignore-keys-regex RE] [--port 8000] [--status-host 0.0.0.0] [--on-index-cleared resync|exit]\n' +
  '                          [--idle-renew-ms 10000] [--log-level info] [--ca-file F] [--cert-file F] [--key-file F]\n' +
  '                          [--src-ca-file F] [--src-cert-file F] [--src-key-file F] [--dst-ca-file F] [--dst-cert-file F] [--dst-key-file F]\n' +
  '                          SRC_URL DST_URL\n' +
  '  --api v3: a v3 keyspace into v3; --src-api v2 --dst-api v3: a v2 keyspace into v3 keys (the migration); default v2 into v2\n' +
  '  --ca-file/--cert-file/--key-file apply to both sides; a --src-/--dst- form applies to one side and wins\n' +
  'SRC_URL and DST_URL may instead come from ETCD_WARDEN_MIRROR_SRC and ETCD_WARDEN_MIRROR_DST ' +
  '(keeps credentials out of `ps`).';

/** Which keys go where: shared with mirror-verify, which must read a replica as the mirror wrote it. */
export const mirrorMappingFlags = {
  srcPrefix: prefixFlag('--src-prefix').or(mirrorDefaults.srcPrefix),
  dstPrefix: prefixFlag('--dst-prefix').or(mirrorDefaults.dstPrefix),
  strip: switchFlag('--strip'),
  srcIgnoreKeysRegex: regexFlag('--src-ignore-keys-regex'),
};

const apis = ['v2', 'v3'] as const;

/** Which API each side speaks: `--api` for both, `--src-api`/`--dst-api` for one (and winning). */
export const mirrorApiFlags = {
  api: choiceFlag('--api', apis),
  srcApi: choiceFlag('--src-api', apis),
  dstApi: choiceFlag('--dst-api', apis),
};

/** Every flag of `etcd-warden mirror`: mirror-verify takes them all too, so one unit's arguments serve both. */
export const mirrorFlags = {
  ...mirrorMappingFlags,
  ...mirrorApiFlags,
  ...sideTlsFlags,
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
    runMirrorProcess(await mirrorOptions(flags, positional, process.env)),
  );
}

/** v2 → v2, v3 → v3 or v2 → v3 from the API flags. Throws UsageError naming the flags. */
export function mirrorApi(flags: FlagValues<typeof mirrorApiFlags>): MirrorApi {
  const src = flags.srcApi ?? flags.api ?? 'v2';
  const dst = flags.dstApi ?? flags.api ?? 'v2';
  if (src === 'v3' && dst === 'v2') {
    const given = [flags.api === undefined ? '' : `--api ${flags.api}`, flags.srcApi === undefined ? '' : `--src-api v3`, flags.dstApi === undefined ? '' : `--dst-api v2`].filter((part) => part !== '');
    throw new UsageError(`${given.join(' ')}: a v3 source into a v2 destination is not a mode (v2 is the API being left): use --api v3, or --src-api v2 --dst-api v3`);
  }
  return src === 'v2' && dst === 'v2' ? 'v2' : src === 'v3' ? 'v3' : 'v2-to-v3';
}

/** The mirror's options from its command line, its TLS files read; `env` may hold the URLs instead. Throws UsageError. */
export async function mirrorOptions(flags: FlagValues<typeof mirrorFlags>, positional: readonly string[], env: Readonly<Record<string, string | undefined>>): Promise<MirrorOptions> {
  const { src, dst } = mirrorEndpoints(positional, env);
  return {
    api: mirrorApi(flags),
    src,
    dst,
    tls: await sideTlsMaterial(flags),
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
export async function parseMirrorArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = process.env): Promise<MirrorOptions | { error: string }> {
  try {
    const { flags, positional } = readCommandLine(argv, mirrorFlags);
    return await mirrorOptions(flags, positional, env);
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
