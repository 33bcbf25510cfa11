// Command-line surface of `etcd-warden mirror`, kept flag-for-flag compatible
// with etcdmirror (wikimedia/operations-software-etcd-mirror main.py) so an
// existing systemd unit can switch binaries without edits.
import { normalizePrefix } from './etcd/keys.js';

export interface MirrorOptions {
  src: string;
  dst: string;
  srcPrefix: string;
  dstPrefix: string;
  strip: boolean;
  srcIgnoreKeysRegex?: RegExp;
  port: number;
  statusHost: string;
  reload: boolean;
  onIndexCleared: 'resync' | 'exit';
  /** How long an idle watch stays open before it is renewed (advancing the index to X-Etcd-Index). */
  idleRenewMs: number;
  logLevel: string;
}

export const mirrorUsage =
  'usage: etcd-warden mirror [--reload] [--src-prefix P] [--strip] [--dst-prefix P] ' +
  '[--src-ignore-keys-regex RE] [--port 8000] [--status-host 0.0.0.0] ' +
  '[--on-index-cleared resync|exit] [--idle-renew-ms 10000] [--log-level info] SRC_URL DST_URL\n' +
  'SRC_URL and DST_URL may instead come from ETCD_WARDEN_MIRROR_SRC and ETCD_WARDEN_MIRROR_DST ' +
  '(keeps credentials out of `ps`).';

const logLevels = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

function validUrl(raw: string): boolean {
  try {
    const url = new URL(raw);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

export function parseMirrorArgs(
  argv: string[],
  env: Record<string, string | undefined> = process.env,
): MirrorOptions | { error: string } {
  const options: MirrorOptions = {
    src: '',
    dst: '',
    srcPrefix: '/',
    // etcdmirror's default destination prefix.
    dstPrefix: '/replica',
    strip: false,
    port: 8000,
    statusHost: '0.0.0.0',
    reload: false,
    onIndexCleared: 'resync',
    // Short enough that 1000 writes elsewhere in the cluster rarely fit in one
    // idle period, long enough that renewals cost nothing (one request).
    idleRenewMs: 10_000,
    logLevel: 'info',
  };
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const eq = arg.indexOf('=');
    const flag = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    const inline = arg.startsWith('--') && eq > 0 ? arg.slice(eq + 1) : undefined;
    const value = (): string | undefined => {
      if (inline !== undefined) return inline;
      i += 1;
      return argv[i];
    };
    switch (flag) {
      case '--reload':
        options.reload = true;
        break;
      case '--strip':
        options.strip = true;
        break;
      case '-d':
      case '--debug':
        options.logLevel = 'debug';
        break;
      case '--src-prefix':
      case '--dst-prefix': {
        const raw = value();
        const prefix = raw === undefined ? undefined : normalizePrefix(raw);
        if (prefix === undefined) return { error: `${flag} needs an absolute path such as /conftool` };
        if (flag === '--src-prefix') options.srcPrefix = prefix;
        else options.dstPrefix = prefix;
        break;
      }
      case '--src-ignore-keys-regex': {
        const raw = value();
        if (raw === undefined) return { error: '--src-ignore-keys-regex needs a regular expression' };
        try {
          options.srcIgnoreKeysRegex = new RegExp(raw);
        } catch (error) {
          return { error: `--src-ignore-keys-regex: ${(error as Error).message}` };
        }
        break;
      }
      case '--port': {
        const port = Number(value());
        if (!Number.isInteger(port) || port < 0 || port > 65535) return { error: '--port needs a port number (0-65535)' };
        options.port = port;
        break;
      }
      case '--status-host': {
        const host = value();
        if (host === undefined || host === '') return { error: '--status-host needs a host name or address' };
        options.statusHost = host;
        break;
      }
      case '--on-index-cleared': {
        const mode = value();
        if (mode !== 'resync' && mode !== 'exit') return { error: '--on-index-cleared must be resync or exit' };
        options.onIndexCleared = mode;
        break;
      }
      case '--idle-renew-ms': {
        const ms = Number(value());
        if (!Number.isInteger(ms) || ms < 100) return { error: '--idle-renew-ms needs an integer of at least 100' };
        options.idleRenewMs = ms;
        break;
      }
      case '--log-level': {
        const level = value();
        if (level === undefined || !logLevels.has(level)) return { error: `--log-level must be one of ${[...logLevels].join(', ')}` };
        options.logLevel = level;
        break;
      }
      default:
        if (arg.startsWith('-')) return { error: `unknown flag ${arg}` };
        positional.push(arg);
    }
  }
  const src = positional[0] ?? env.ETCD_WARDEN_MIRROR_SRC;
  const dst = positional[1] ?? env.ETCD_WARDEN_MIRROR_DST;
  if (positional.length > 2) return { error: `unexpected argument ${positional[2] ?? ''}` };
  if (src === undefined || src === '') return { error: 'SRC_URL is required (or ETCD_WARDEN_MIRROR_SRC)' };
  if (dst === undefined || dst === '') return { error: 'DST_URL is required (or ETCD_WARDEN_MIRROR_DST)' };
  if (!validUrl(src)) return { error: 'SRC_URL must be an http(s) URL' };
  if (!validUrl(dst)) return { error: 'DST_URL must be an http(s) URL' };
  options.src = src;
  options.dst = dst;
  return options;
}

/** For logs: never print the `user:pass@` part of a URL. */
export function redactUrl(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.username !== '' || url.password !== '') {
      url.username = '***';
      url.password = '';
    }
    return url.toString().replace(/\/$/, '');
  } catch {
    return '<invalid url>';
  }
}
