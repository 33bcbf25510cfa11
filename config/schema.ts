// The config file's shape, validated once at the edge: every error names the
// field it is about, and an unknown field is an error (a typo such as
// `readonly:` must not silently leave the cluster writable).
import { cleanPath } from '../proxy/path.js';

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

export interface TlsFiles {
  readonly cert: string;
  readonly key: string;
  /** When set, clients must present a certificate signed by this CA. */
  readonly clientCa?: string;
}

export interface MirrorSection {
  readonly src: string;
  readonly srcPrefix: string;
  readonly dstPrefix: string;
  readonly strip: boolean;
  readonly srcIgnoreKeysRegex?: string;
  readonly port: number;
  readonly onIndexCleared: 'resync' | 'exit';
  /** Copy the source prefix into the destination when the proxy starts (etcdmirror's --reload). */
  readonly reload: boolean;
}

export interface Timeouts {
  /** Upper bound on an ordinary (non-watch) upstream request: headers and body. */
  readonly upstreamMs: number;
  /** Time to open a TCP/TLS connection to etcd; a down etcd gets a 502 after this. */
  readonly upstreamConnectMs: number;
  /** Time for a client to send its whole request (headers and body); watches are unaffected once sent. */
  readonly clientRequestMs: number;
  /** Time for a client to send its request headers (slowloris bound). */
  readonly clientHeadersMs: number;
  /** Idle keep-alive connections from clients are closed after this. */
  readonly clientKeepAliveMs: number;
  /** On SIGTERM, ordinary requests get this long to finish; watches are ended at once. */
  readonly shutdownGraceMs: number;
}

/** Bounds on what one client may make the proxy hold (README "Security"). */
export interface ClientLimits {
  /** Request line plus headers, in bytes; larger gets 431 (Node's maxHeaderSize). Takes effect at restart. */
  readonly maxHeaderBytes: number;
  /** Header fields per request; more gets 431. */
  readonly maxHeaderCount: number;
  /** Open client connections (watches included); the next one gets 503 and is closed. */
  readonly maxConnections: number;
}

export interface Config {
  readonly listen: ListenAddress;
  readonly tls?: TlsFiles;
  readonly upstream: URL;
  /**
   * This proxy's public URL (https://conf1001.example.org:4001), the one its
   * etcd member must advertise as its client URL. Checked against
   * /v2/members at start, on reload and every minute (proxy/member-urls.ts).
   */
  readonly advertise?: URL;
  /** CA bundle to verify an https upstream. */
  readonly upstreamCa?: string;
  readonly readOnly: boolean;
  readonly htpasswd?: string;
  /** Write ACLs: key prefix → users; an empty list lets anyone write. */
  readonly acls: Readonly<Record<string, readonly string[]>>;
  /** Optional read ACLs: reads are anonymous where none covers the key. */
  readonly readAcls: Readonly<Record<string, readonly string[]>>;
  readonly admins: readonly string[];
  readonly metrics?: ListenAddress;
  readonly logLevel: LogLevel;
  readonly maxBodyBytes: number;
  readonly timeouts: Timeouts;
  readonly limits: ClientLimits;
  readonly mirror?: MirrorSection;
  readonly heartbeat?: HeartbeatSection;
}

export interface HeartbeatSection {
  /** Written by the primary (read-write) proxy: a non-hidden key under the replicated prefix. */
  readonly key: string;
  /** Followed by a replica (read-only) proxy; defaults to `key`. */
  readonly followKey: string;
  readonly intervalMs: number;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export const defaultTimeouts: Timeouts = {
  upstreamMs: 60_000,
  upstreamConnectMs: 5_000,
  clientRequestMs: 60_000,
  clientHeadersMs: 30_000,
  clientKeepAliveMs: 72_000,
  shutdownGraceMs: 10_000,
};

// 16 KiB is Node's own default and twice nginx's large_client_header_buffers
// line size; 100 header fields is Envoy's default. 10,000 idle connections
// cost the proxy 80-90 MiB of RSS (8-9 KiB each) in proxy-hardening-limits.test.ts,
// and one descriptor each (two for a watch): LimitNOFILE must allow for that.
export const defaultLimits: ClientLimits = {
  maxHeaderBytes: 16 * 1024,
  maxHeaderCount: 100,
  maxConnections: 10_000,
};

export type Validation<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly errors: readonly string[] };

const topLevelFields = [
  'listen', 'tls', 'upstream', 'advertise', 'upstreamCa', 'readOnly', 'htpasswd', 'acls', 'readAcls', 'admins',
  'metrics', 'logLevel', 'maxBodyBytes', 'timeouts', 'limits', 'mirror', 'heartbeat',
];

/** Collects errors while reading fields, so one run reports every problem at once. */
class FieldReader {
  readonly errors: string[] = [];

  fail(field: string, problem: string): void {
    this.errors.push(`${field}: ${problem}`);
  }

  record(value: unknown, field: string): Record<string, unknown> | undefined {
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
    this.fail(field, `must be a mapping, got ${describe(value)}`);
    return undefined;
  }

  unknownFields(value: Record<string, unknown>, known: readonly string[], field: string): void {
    for (const name of Object.keys(value)) {
      if (!known.includes(name)) this.fail(field === '' ? name : `${field}.${name}`, `unknown field (known: ${known.join(', ')})`);
    }
  }

  string(value: unknown, field: string): string | undefined {
    if (typeof value === 'string' && value !== '') return value;
    this.fail(field, `must be a non-empty string, got ${describe(value)}`);
    return undefined;
  }

  boolean(value: unknown, field: string): boolean | undefined {
    if (typeof value === 'boolean') return value;
    this.fail(field, `must be true or false, got ${describe(value)}`);
    return undefined;
  }

  positiveInteger(value: unknown, field: string): number | undefined {
    if (typeof value === 'number' && Number.isInteger(value) && value > 0) return value;
    this.fail(field, `must be a positive integer, got ${describe(value)}`);
    return undefined;
  }

  /** A section of positive integers with defaults (timeouts, limits): every field optional, none unknown. */
  positiveIntegers<T extends Record<keyof T, number>>(value: unknown, defaults: T, field: string): T {
    const section = this.record(value, field);
    if (section === undefined) return defaults;
    this.unknownFields(section, Object.keys(defaults), field);
    const merged: Record<string, number> = { ...defaults };
    for (const name of Object.keys(defaults)) {
      if (section[name] === undefined) continue;
      const parsed = this.positiveInteger(section[name], `${field}.${name}`);
      if (parsed !== undefined) merged[name] = parsed;
    }
    // Same keys as `defaults`, each a number: the shape of T.
    return merged as T;
  }

  address(value: unknown, field: string): ListenAddress | undefined {
    const text = this.string(value, field);
    if (text === undefined) return undefined;
    const match = /^(\[[0-9a-fA-F:.]+\]|[^:\s]+):(\d{1,5})$/.exec(text);
    const port = match === null ? NaN : Number(match[2]);
    if (match === null || match[1] === undefined || !(port >= 0 && port <= 65535)) {
      this.fail(field, `must be "host:port" (e.g. "0.0.0.0:4001"), got ${JSON.stringify(text)}`);
      return undefined;
    }
    return { host: match[1].replace(/^\[|\]$/g, ''), port };
  }

  userList(value: unknown, field: string): string[] | undefined {
    if (!Array.isArray(value)) {
      this.fail(field, `must be a list of user names (empty for anyone), got ${describe(value)}`);
      return undefined;
    }
    const users: string[] = [];
    value.forEach((user, i) => {
      if (typeof user === 'string' && /^[^:\s]+$/.test(user)) users.push(user);
      else this.fail(`${field}[${i}]`, `must be a user name without ':' or spaces, got ${describe(user)}`);
    });
    return users;
  }

  aclMap(value: unknown, field: string): Record<string, string[]> | undefined {
    const map = this.record(value, field);
    if (map === undefined) return undefined;
    const acl: Record<string, string[]> = {};
    for (const [prefix, users] of Object.entries(map)) {
      const entryField = `${field}[${JSON.stringify(prefix)}]`;
      if (!prefix.startsWith('/') || cleanPath(prefix) !== prefix) {
        this.fail(entryField, `the prefix must be a clean key path starting with "/" (no "..", ".", "//" or trailing "/"); did you mean ${JSON.stringify(cleanPath('/' + prefix))}?`);
        continue;
      }
      const list = this.userList(users, entryField);
      if (list !== undefined) acl[prefix] = list;
    }
    return acl;
  }

  keyPrefix(value: unknown, field: string): string | undefined {
    const text = this.string(value, field);
    if (text === undefined) return undefined;
    if (!text.startsWith('/') || cleanPath(text) !== text) {
      this.fail(field, `must be a clean key path starting with "/", got ${JSON.stringify(text)}`);
      return undefined;
    }
    return text;
  }

  httpUrl(value: unknown, field: string): URL | undefined {
    const text = this.string(value, field);
    if (text === undefined) return undefined;
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      this.fail(field, `must be an http:// or https:// URL, got ${JSON.stringify(text)}`);
      return undefined;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      this.fail(field, `must be an http:// or https:// URL, got ${JSON.stringify(text)}`);
      return undefined;
    }
    return url;
  }
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} ${JSON.stringify(value)}`;
}

export function validateConfig(raw: unknown): Validation<Config> {
  const read = new FieldReader();
  const root = read.record(raw ?? {}, '(file)');
  if (root === undefined) return { ok: false, errors: read.errors };
  read.unknownFields(root, topLevelFields, '');

  const listen = read.address(root.listen ?? '0.0.0.0:4001', 'listen');
  const upstream = read.httpUrl(root.upstream ?? 'http://127.0.0.1:2379', 'upstream');
  if (upstream !== undefined && (upstream.pathname !== '/' || upstream.search !== '' || upstream.username !== '')) {
    read.fail('upstream', 'must be an origin only (scheme, host, port), without path, query or credentials');
  }
  const advertise = root.advertise === undefined ? undefined : read.httpUrl(root.advertise, 'advertise');
  if (advertise !== undefined && (advertise.pathname !== '/' || advertise.search !== '' || advertise.username !== '')) {
    read.fail('advertise', 'must be the URL clients use for this proxy, an origin only (scheme, host, port), e.g. "https://conf1001.example.org:4001"');
  }
  const readOnly = root.readOnly === undefined ? false : read.boolean(root.readOnly, 'readOnly');
  const acls = root.acls === undefined ? {} : read.aclMap(root.acls, 'acls');
  const readAcls = root.readAcls === undefined ? {} : read.aclMap(root.readAcls, 'readAcls');
  const admins = root.admins === undefined ? ['root'] : read.userList(root.admins, 'admins');
  const metrics = root.metrics === undefined ? read.address('127.0.0.1:9181', 'metrics') : root.metrics === false ? undefined : read.address(root.metrics, 'metrics');
  const htpasswd = root.htpasswd === undefined ? undefined : read.string(root.htpasswd, 'htpasswd');
  const upstreamCa = root.upstreamCa === undefined ? undefined : read.string(root.upstreamCa, 'upstreamCa');
  const maxBodyBytes = root.maxBodyBytes === undefined ? 20 * 1024 * 1024 : read.positiveInteger(root.maxBodyBytes, 'maxBodyBytes');

  let logLevel: LogLevel = 'info';
  if (root.logLevel !== undefined) {
    if (root.logLevel === 'debug' || root.logLevel === 'info' || root.logLevel === 'warn' || root.logLevel === 'error') logLevel = root.logLevel;
    else read.fail('logLevel', `must be one of debug, info, warn, error, got ${describe(root.logLevel)}`);
  }

  let tls: TlsFiles | undefined;
  if (root.tls !== undefined) {
    const section = read.record(root.tls, 'tls');
    if (section !== undefined) {
      read.unknownFields(section, ['cert', 'key', 'clientCa'], 'tls');
      const cert = read.string(section.cert, 'tls.cert');
      const key = read.string(section.key, 'tls.key');
      const clientCa = section.clientCa === undefined ? undefined : read.string(section.clientCa, 'tls.clientCa');
      if (cert !== undefined && key !== undefined) tls = { cert, key, ...(clientCa === undefined ? {} : { clientCa }) };
    }
  }

  const timeouts = root.timeouts === undefined ? defaultTimeouts : read.positiveIntegers(root.timeouts, defaultTimeouts, 'timeouts');
  const limits = root.limits === undefined ? defaultLimits : read.positiveIntegers(root.limits, defaultLimits, 'limits');

  let mirror: MirrorSection | undefined;
  if (root.mirror !== undefined) mirror = readMirror(read, root.mirror);
  const heartbeat = root.heartbeat === undefined ? undefined : readHeartbeat(read, root.heartbeat);

  const needsUsers = [...Object.values(acls ?? {}), ...Object.values(readAcls ?? {})].some((users) => users.length > 0);
  if (needsUsers && htpasswd === undefined) read.fail('htpasswd', 'is required: ACL rules name users, and their passwords come from this file');

  if (read.errors.length > 0 || listen === undefined || upstream === undefined || readOnly === undefined || acls === undefined || readAcls === undefined || admins === undefined || maxBodyBytes === undefined) {
    return { ok: false, errors: read.errors };
  }
  return {
    ok: true,
    value: {
      listen, upstream, readOnly, acls, readAcls, admins, logLevel, maxBodyBytes, timeouts, limits,
      ...(tls === undefined ? {} : { tls }),
      ...(advertise === undefined ? {} : { advertise }),
      ...(upstreamCa === undefined ? {} : { upstreamCa }),
      ...(htpasswd === undefined ? {} : { htpasswd }),
      ...(metrics === undefined ? {} : { metrics }),
      ...(mirror === undefined ? {} : { mirror }),
      ...(heartbeat === undefined ? {} : { heartbeat }),
    },
  };
}

function readHeartbeat(read: FieldReader, value: unknown): HeartbeatSection | undefined {
  const section = read.record(value, 'heartbeat');
  if (section === undefined) return undefined;
  read.unknownFields(section, ['key', 'followKey', 'intervalMs'], 'heartbeat');
  const key = read.keyPrefix(section.key, 'heartbeat.key');
  const followKey = section.followKey === undefined ? key : read.keyPrefix(section.followKey, 'heartbeat.followKey');
  const intervalMs = section.intervalMs === undefined ? 1000 : read.positiveInteger(section.intervalMs, 'heartbeat.intervalMs');
  // Recursive watches and listings leave hidden keys out, so the mirror never carries them.
  for (const [field, path] of [['heartbeat.key', key], ['heartbeat.followKey', followKey]] as const) {
    if (path !== undefined && path.split('/').some((segment) => segment.startsWith('_'))) {
      read.fail(field, `must not be a hidden key (a segment starting with "_"): the mirror does not replicate those, got ${JSON.stringify(path)}`);
    }
  }
  if (key === undefined || followKey === undefined || intervalMs === undefined) return undefined;
  return { key, followKey, intervalMs };
}

function readMirror(read: FieldReader, value: unknown): MirrorSection | undefined {
  const section = read.record(value, 'mirror');
  if (section === undefined) return undefined;
  read.unknownFields(section, ['src', 'srcPrefix', 'dstPrefix', 'strip', 'srcIgnoreKeysRegex', 'port', 'onIndexCleared', 'reload'], 'mirror');
  const src = read.httpUrl(section.src, 'mirror.src');
  const srcPrefix = read.keyPrefix(section.srcPrefix ?? '/', 'mirror.srcPrefix');
  // The replica usually keeps the primary's layout (/conftool → /conftool).
  const dstPrefix = read.keyPrefix(section.dstPrefix ?? section.srcPrefix ?? '/', 'mirror.dstPrefix');
  // Unlike the etcdmirror command line, the config strips by default: with
  // srcPrefix /conftool and dstPrefix /conftool the replica keeps the primary's
  // layout, which is what the SPEC's example means.
  const strip = section.strip === undefined ? true : read.boolean(section.strip, 'mirror.strip');
  const reload = section.reload === undefined ? false : read.boolean(section.reload, 'mirror.reload');
  const port = section.port === undefined ? 8000 : read.positiveInteger(section.port, 'mirror.port');
  let srcIgnoreKeysRegex: string | undefined;
  if (section.srcIgnoreKeysRegex !== undefined) {
    srcIgnoreKeysRegex = read.string(section.srcIgnoreKeysRegex, 'mirror.srcIgnoreKeysRegex');
    try {
      if (srcIgnoreKeysRegex !== undefined) new RegExp(srcIgnoreKeysRegex);
    } catch (error) {
      read.fail('mirror.srcIgnoreKeysRegex', `is not a valid regular expression: ${(error as Error).message}`);
    }
  }
  const onIndexCleared = section.onIndexCleared ?? 'resync';
  if (onIndexCleared !== 'resync' && onIndexCleared !== 'exit') read.fail('mirror.onIndexCleared', `must be "resync" or "exit", got ${describe(onIndexCleared)}`);
  if (src === undefined || srcPrefix === undefined || dstPrefix === undefined || strip === undefined || reload === undefined || port === undefined) return undefined;
  return {
    src: src.href.replace(/\/$/, ''),
    srcPrefix, dstPrefix, strip, port, reload,
    onIndexCleared: onIndexCleared === 'exit' ? 'exit' : 'resync',
    ...(srcIgnoreKeysRegex === undefined ? {} : { srcIgnoreKeysRegex }),
  };
}
