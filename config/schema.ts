// The config file's shape, validated once at the edge: every error names the
// field it is about, and an unknown field is an error (a typo such as
// `readonly:` must not silently leave the cluster writable).
import { isHiddenPath } from '../mirror/etcd/keys.js';
import { describe, FieldReader, type ListenAddress } from './field-reader.js';

export type { ListenAddress } from './field-reader.js';

export interface TlsFiles {
  readonly cert: string;
  readonly key: string;
  /** When set, clients must present a certificate signed by this CA. */
  readonly clientCa?: string;
}

/** The APIs of a bundled mirror: its source's and its destination's (the proxy's upstream). */
export type MirrorSectionApi = 'v2' | 'v3' | 'v2-to-v3';

export interface MirrorSection {
  readonly api: MirrorSectionApi;
  readonly src: string;
  /** TLS for an https source (its private CA, a client certificate): file paths, read by config/load.ts. */
  readonly srcCaFile?: string;
  readonly srcCertFile?: string;
  readonly srcKeyFile?: string;
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

/** The v3 API's own settings (its ACLs are `acls`, `readAcls` and `admins`, as for v2). */
export interface V3Settings {
  /** A token from Auth.Authenticate dies after this long unused (etcd's --auth-token-ttl rule). */
  readonly tokenTtlMs: number;
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
  readonly v3: V3Settings;
  readonly mirror?: MirrorSection;
  readonly heartbeat?: HeartbeatSection;
  /**
   * Proxy processes serving the listen address (node:cluster); undefined:
   * one per CPU. 1 runs the proxy as a single process. Takes effect at restart.
   */
  readonly workers?: number;
}

export interface HeartbeatSection {
  /** Written by the primary (read-write) proxy: a non-hidden key under the replicated prefix. */
  readonly key: string;
  /** Followed by a replica (read-only) proxy; defaults to `key`. */
  readonly followKey: string;
  readonly intervalMs: number;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const KiB = 1024;
const MiB = 1024 * KiB;

/** etcd's old client port, where nginx listened. */
export const defaultListen = '0.0.0.0:4001';
/** The local member's client URL. */
export const defaultUpstream = 'http://127.0.0.1:2379';
/** The proxy's own /metrics, /healthz and /clients, on loopback. */
export const defaultMetricsAddress = '127.0.0.1:9181';
export const defaultAdmins: readonly string[] = ['root'];
/** Request bodies larger than this get 413. */
export const defaultMaxBodyBytes = 20 * MiB;
/** How often the primary writes its heartbeat. */
export const defaultHeartbeatIntervalMs = 1_000;
/** etcdmirror's --port default, for the bundled mirror's /lag and /metrics. */
export const defaultMirrorStatusPort = 8_000;
/** More proxy processes than this only add memory: each is a whole Node process. */
export const maxWorkers = 256;

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
  maxHeaderBytes: 16 * KiB,
  maxHeaderCount: 100,
  maxConnections: 10_000,
};

// etcd's default --auth-token-ttl (300 s, sliding): python-etcd3 never
// authenticates again, so a shorter life breaks long-running scripts.
export const defaultV3Settings: V3Settings = { tokenTtlMs: 300_000 };

export type Validation<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly errors: readonly string[] };

const topLevelFields = [
  'listen', 'tls', 'upstream', 'advertise', 'upstreamCa', 'readOnly', 'htpasswd', 'acls', 'readAcls', 'admins',
  'metrics', 'logLevel', 'maxBodyBytes', 'timeouts', 'limits', 'mirror', 'heartbeat', 'v3', 'workers',
];

export function validateConfig(raw: unknown): Validation<Config> {
  const read = new FieldReader();
  const root = read.record(raw ?? {}, '(file)');
  if (root === undefined) return { ok: false, errors: read.errors };
  read.unknownFields(root, topLevelFields, '');

  const listen = read.address(root.listen ?? defaultListen, 'listen');
  const upstream = read.httpUrl(root.upstream ?? defaultUpstream, 'upstream');
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
  const admins = root.admins === undefined ? [...defaultAdmins] : read.userList(root.admins, 'admins');
  const metrics = root.metrics === undefined ? read.address(defaultMetricsAddress, 'metrics') : root.metrics === false ? undefined : read.address(root.metrics, 'metrics');
  const htpasswd = root.htpasswd === undefined ? undefined : read.string(root.htpasswd, 'htpasswd');
  const upstreamCa = root.upstreamCa === undefined ? undefined : read.string(root.upstreamCa, 'upstreamCa');
  const maxBodyBytes = root.maxBodyBytes === undefined ? defaultMaxBodyBytes : read.positiveInteger(root.maxBodyBytes, 'maxBodyBytes');
  const workers = root.workers === undefined ? undefined : read.positiveInteger(root.workers, 'workers');
  if (workers !== undefined && workers > maxWorkers) read.fail('workers', `must be at most ${maxWorkers} (one per CPU is the most that helps), got ${workers}`);

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
  const v3 = root.v3 === undefined ? defaultV3Settings : read.positiveIntegers(root.v3, defaultV3Settings, 'v3');

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
      listen, upstream, readOnly, acls, readAcls, admins, logLevel, maxBodyBytes, timeouts, limits, v3,
      ...(tls === undefined ? {} : { tls }),
      ...(advertise === undefined ? {} : { advertise }),
      ...(upstreamCa === undefined ? {} : { upstreamCa }),
      ...(htpasswd === undefined ? {} : { htpasswd }),
      ...(metrics === undefined ? {} : { metrics }),
      ...(mirror === undefined ? {} : { mirror }),
      ...(heartbeat === undefined ? {} : { heartbeat }),
      ...(workers === undefined ? {} : { workers }),
    },
  };
}

function readHeartbeat(read: FieldReader, value: unknown): HeartbeatSection | undefined {
  const section = read.record(value, 'heartbeat');
  if (section === undefined) return undefined;
  read.unknownFields(section, ['key', 'followKey', 'intervalMs'], 'heartbeat');
  const key = read.keyPrefix(section.key, 'heartbeat.key');
  const followKey = section.followKey === undefined ? key : read.keyPrefix(section.followKey, 'heartbeat.followKey');
  const intervalMs = section.intervalMs === undefined ? defaultHeartbeatIntervalMs : read.positiveInteger(section.intervalMs, 'heartbeat.intervalMs');
  // Recursive watches and listings leave hidden keys out, so the mirror never carries them.
  for (const [field, path] of [['heartbeat.key', key], ['heartbeat.followKey', followKey]] as const) {
    if (path !== undefined && isHiddenPath(path)) {
      read.fail(field, `must not be a hidden key (a segment starting with "_"): the mirror does not replicate those, got ${JSON.stringify(path)}`);
    }
  }
  if (key === undefined || followKey === undefined || intervalMs === undefined) return undefined;
  return { key, followKey, intervalMs };
}

function readMirror(read: FieldReader, value: unknown): MirrorSection | undefined {
  const section = read.record(value, 'mirror');
  if (section === undefined) return undefined;
  read.unknownFields(section, ['api', 'srcApi', 'dstApi', 'src', 'srcCaFile', 'srcCertFile', 'srcKeyFile', 'srcPrefix', 'dstPrefix', 'strip', 'srcIgnoreKeysRegex', 'port', 'onIndexCleared', 'reload'], 'mirror');
  const src = read.httpUrl(section.src, 'mirror.src');
  const api = readMirrorApi(read, section);
  const files = { srcCaFile: section.srcCaFile, srcCertFile: section.srcCertFile, srcKeyFile: section.srcKeyFile };
  const tlsFiles: Record<string, string> = {};
  for (const [field, given] of Object.entries(files)) {
    const path = given === undefined ? undefined : read.string(given, `mirror.${field}`);
    if (path !== undefined) tlsFiles[field] = path;
  }
  if ((tlsFiles.srcCertFile === undefined) !== (tlsFiles.srcKeyFile === undefined)) read.fail(tlsFiles.srcCertFile === undefined ? 'mirror.srcKeyFile' : 'mirror.srcCertFile', 'needs mirror.srcCertFile and mirror.srcKeyFile together (a client certificate and its key)');
  const srcPrefix = read.keyPrefix(section.srcPrefix ?? '/', 'mirror.srcPrefix');
  // The replica usually keeps the primary's layout (/conftool → /conftool).
  const dstPrefix = read.keyPrefix(section.dstPrefix ?? section.srcPrefix ?? '/', 'mirror.dstPrefix');
  // Unlike the etcdmirror command line, the config strips by default: with
  // srcPrefix /conftool and dstPrefix /conftool the replica keeps the primary's
  // layout, which is what the SPEC's example means.
  const strip = section.strip === undefined ? true : read.boolean(section.strip, 'mirror.strip');
  const reload = section.reload === undefined ? false : read.boolean(section.reload, 'mirror.reload');
  const port = section.port === undefined ? defaultMirrorStatusPort : read.positiveInteger(section.port, 'mirror.port');
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
  if (src === undefined || api === undefined || srcPrefix === undefined || dstPrefix === undefined || strip === undefined || reload === undefined || port === undefined) return undefined;
  return {
    api,
    src: src.href.replace(/\/$/, ''),
    ...tlsFiles,
    srcPrefix, dstPrefix, strip, port, reload,
    onIndexCleared: onIndexCleared === 'exit' ? 'exit' : 'resync',
    ...(srcIgnoreKeysRegex === undefined ? {} : { srcIgnoreKeysRegex }),
  };
}

/** `api: v3` for both sides, or `srcApi`/`dstApi` (the destination is the proxy's upstream); v2 by default. */
function readMirrorApi(read: FieldReader, section: Record<string, unknown>): MirrorSectionApi | undefined {
  const one = (field: 'api' | 'srcApi' | 'dstApi'): 'v2' | 'v3' | undefined | null => {
    const given = section[field];
    if (given === undefined || given === 'v2' || given === 'v3') return given;
    read.fail(`mirror.${field}`, `must be "v2" or "v3", got ${describe(given)}`);
    return null;
  };
  const [api, srcApi, dstApi] = [one('api'), one('srcApi'), one('dstApi')];
  if (api === null || srcApi === null || dstApi === null) return undefined;
  const src = srcApi ?? api ?? 'v2';
  const dst = dstApi ?? api ?? 'v2';
  if (src === 'v3' && dst === 'v2') {
    read.fail(srcApi === undefined ? 'mirror.dstApi' : 'mirror.srcApi', 'a v3 source into a v2 destination is not a mode: use api: v3, or srcApi: v2 with dstApi: v3');
    return undefined;
  }
  return src === 'v2' && dst === 'v2' ? 'v2' : src === 'v3' ? 'v3' : 'v2-to-v3';
}
