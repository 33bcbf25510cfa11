// What one mirror runs with, however it was started: the command line
// (bin/commands/mirror.ts, etcdmirror's flags) or the proxy's config section
// (the bundled mirror, handed to its child process as JSON: one encoder and
// one parser, both here).

export const mirrorLogLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type MirrorLogLevel = (typeof mirrorLogLevels)[number];

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
  logLevel: MirrorLogLevel;
}

/** etcdmirror's defaults, where it has the setting. */
export const mirrorDefaults = {
  srcPrefix: '/',
  dstPrefix: '/replica',
  /** etcdmirror's --port: /lag and /metrics. */
  port: 8000,
  statusHost: '0.0.0.0',
  onIndexCleared: 'resync',
  // Short enough that 1000 writes elsewhere in the cluster rarely fit in one
  // idle period, long enough that renewals cost nothing (one request).
  idleRenewMs: 10_000,
  logLevel: 'info',
} as const satisfies Partial<MirrorOptions>;

/** The variable that carries a bundled mirror's options to its child process (not argv, which `ps` shows). */
export const mirrorOptionsVariable = 'ETCD_WARDEN_MIRROR_OPTIONS';

/** JSON for the child process; the regex travels as its source. */
export function encodeMirrorOptions(options: MirrorOptions): string {
  return JSON.stringify({ ...options, srcIgnoreKeysRegex: options.srcIgnoreKeysRegex?.source });
}

/** The child's one parser of its options; a process boundary, so every field is checked. */
export function decodeMirrorOptions(json: string): MirrorOptions {
  const value: unknown = JSON.parse(json);
  if (typeof value !== 'object' || value === null) throw new Error(`${mirrorOptionsVariable} is not a JSON object`);
  const field = <T>(name: string, ok: (candidate: unknown) => candidate is T): T => {
    const candidate = (value as Record<string, unknown>)[name];
    if (!ok(candidate)) throw new Error(`${mirrorOptionsVariable}: ${name} is missing or of the wrong type`);
    return candidate;
  };
  const isString = (candidate: unknown): candidate is string => typeof candidate === 'string';
  const isNumber = (candidate: unknown): candidate is number => typeof candidate === 'number';
  const isBoolean = (candidate: unknown): candidate is boolean => typeof candidate === 'boolean';
  const ignore = field('srcIgnoreKeysRegex', (candidate): candidate is string | undefined => candidate === undefined || typeof candidate === 'string');
  return {
    src: field('src', isString),
    dst: field('dst', isString),
    srcPrefix: field('srcPrefix', isString),
    dstPrefix: field('dstPrefix', isString),
    strip: field('strip', isBoolean),
    port: field('port', isNumber),
    statusHost: field('statusHost', isString),
    reload: field('reload', isBoolean),
    onIndexCleared: field('onIndexCleared', (candidate): candidate is 'resync' | 'exit' => candidate === 'resync' || candidate === 'exit'),
    idleRenewMs: field('idleRenewMs', isNumber),
    logLevel: field('logLevel', (candidate): candidate is MirrorLogLevel => mirrorLogLevels.some((level) => level === candidate)),
    ...(ignore === undefined ? {} : { srcIgnoreKeysRegex: new RegExp(ignore) }),
  };
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
