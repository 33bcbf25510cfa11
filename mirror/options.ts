// What one mirror runs with, however it was started: the command line
// (bin/commands/mirror.ts, etcdmirror's flags) or the proxy's config section
// (the bundled mirror, handed to its child process as JSON: one encoder and
// one parser, both here).
import type { TlsMaterial, TlsPaths } from './etcd/tls.js';
import type { MirrorApi } from './metrics.js';

export type { MirrorApi } from './metrics.js';
export const mirrorApis: readonly MirrorApi[] = ['v2', 'v3', 'v2-to-v3'];

/** TLS for https:// URLs, per side; absent: the system's CAs and no client certificate. */
export interface MirrorTls {
  readonly src?: TlsMaterial;
  readonly dst?: TlsMaterial;
}

export const mirrorLogLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type MirrorLogLevel = (typeof mirrorLogLevels)[number];

export interface MirrorOptions {
  /** v2 into v2 (etcdmirror's), v3 into v3, or a v2 source into v3 keys (the migration). */
  api: MirrorApi;
  src: string;
  dst: string;
  tls: MirrorTls;
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

/**
 * Node flags the mirror process runs with (the bundled child gets them from
 * bundled.ts, the standalone unit through NODE_OPTIONS): the mirror runs for
 * memory (process.ts adds --optimize-for-size). A 1 MiB young generation: on
 * a 3,000-event burst with kill -9 restarts V8 otherwise grew it by 3-5 MiB,
 * most of what put the mirror's peak above etcdmirror's 61 MiB. The price is
 * throughput at thousands of writes per second inside the prefix (npm run
 * bench prints the mirror with and without them); the unit can drop them.
 */
export const mirrorNodeFlags: readonly string[] = ['--max-semi-space-size=1'];

/** The variable that carries a bundled mirror's options to its child process (not argv, which `ps` shows). */
export const mirrorOptionsVariable = 'ETCD_WARDEN_MIRROR_OPTIONS';

/** The bundled child's options before it reads its TLS files: their paths, which fit in an environment variable where a CA bundle may not. */
export type EncodedMirrorOptions = Omit<MirrorOptions, 'tls'> & { readonly tlsPaths: { readonly src?: TlsPaths; readonly dst?: TlsPaths } };

function tlsPaths(material: TlsMaterial | undefined): TlsPaths | undefined {
  if (material === undefined) return undefined;
  const path = (file: TlsMaterial['ca']): TlsPaths['ca'] => (file === undefined ? undefined : { path: file.path, setting: file.setting });
  return { ca: path(material.ca), cert: path(material.cert), key: path(material.key) };
}

/** JSON for the child process; the regex travels as its source, TLS files as their paths. */
export function encodeMirrorOptions(options: MirrorOptions): string {
  const { tls, ...rest } = options;
  return JSON.stringify({ ...rest, srcIgnoreKeysRegex: options.srcIgnoreKeysRegex?.source, tlsPaths: { src: tlsPaths(tls.src), dst: tlsPaths(tls.dst) } });
}

function isTlsPaths(candidate: unknown): candidate is TlsPaths | undefined {
  if (candidate === undefined) return true;
  if (typeof candidate !== 'object' || candidate === null) return false;
  return Object.values(candidate).every((file: unknown) => file === undefined || (typeof file === 'object' && file !== null && typeof (file as { path?: unknown }).path === 'string' && typeof (file as { setting?: unknown }).setting === 'string'));
}

/** The child's one parser of its options; a process boundary, so every field is checked. */
export function decodeMirrorOptions(json: string): EncodedMirrorOptions {
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
  const decoded = {
    src: field('src', isString),
    dst: field('dst', isString),
    api: field('api', (candidate): candidate is MirrorApi => mirrorApis.some((api) => api === candidate)),
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
  const paths = field('tlsPaths', (candidate): candidate is { src?: unknown; dst?: unknown } => typeof candidate === 'object' && candidate !== null);
  if (!isTlsPaths(paths.src) || !isTlsPaths(paths.dst)) throw new Error(`${mirrorOptionsVariable}: tlsPaths is of the wrong shape`);
  return { ...decoded, tlsPaths: { ...(paths.src === undefined ? {} : { src: paths.src }), ...(paths.dst === undefined ? {} : { dst: paths.dst }) } };
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
