// Reads everything the proxy's config points at (YAML, htpasswd, certificates)
// and checks it as a whole, at start, on SIGHUP and in `check-config`. Nothing
// here is half-applied: the caller gets a complete LoadedConfig or the list
// of errors.
import { X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { readTlsMaterial, TlsFileError, type TlsMaterial as ClientTlsMaterial } from '../mirror/etcd/tls.js';
import type { FileSource } from './files.js';
import { loadHtpasswd, type HtpasswdTable } from './htpasswd.js';
import { validateConfig, type Config, type Validation } from './schema.js';

export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly clientCa?: Buffer;
  /** The serving certificate's notAfter, exported as a metric. */
  readonly notAfter: Date;
}

export interface LoadedConfig {
  readonly file: string;
  readonly config: Config;
  readonly users: HtpasswdTable;
  readonly tls?: TlsMaterial;
  readonly upstreamCa?: Buffer;
  /** The bundled mirror's TLS material for its source (mirror.srcCaFile, srcCertFile, srcKeyFile). */
  readonly mirrorSourceTls?: ClientTlsMaterial;
  /** Things that work but an operator should know about. */
  readonly warnings: readonly string[];
}

/** `read`: where the files come from (files.ts); the disk unless a cluster worker loads what its primary validated. */
export async function loadConfig(file: string, read: FileSource = readFile): Promise<Validation<LoadedConfig>> {
  let text: string;
  try {
    text = (await read(file)).toString('utf8');
  } catch (error) {
    return { ok: false, errors: [`${file}: cannot read the config file: ${(error as Error).message}`] };
  }
  const document = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (document.errors.length > 0) {
    return { ok: false, errors: document.errors.map((e) => `${file}: YAML: ${e.message}`) };
  }
  const validated = validateConfig(document.toJS());
  if (!validated.ok) return { ok: false, errors: validated.errors.map((e) => `${file}: ${e}`) };
  const config = validated.value;

  const errors: string[] = [];
  const warnings: string[] = [];
  let users: HtpasswdTable = new Map();
  if (config.htpasswd !== undefined) {
    const loaded = await loadHtpasswd(config.htpasswd, read);
    if (loaded.ok) users = loaded.table;
    else errors.push(...loaded.errors);
  }
  const named = new Set([...Object.values(config.acls), ...Object.values(config.readAcls), config.admins].flat());
  for (const user of named) {
    if (errors.length === 0 && !users.has(user)) warnings.push(`user "${user}" is named in the ACLs or admins but has no line in the htpasswd file; nobody can act as them`);
  }

  let tls: TlsMaterial | undefined;
  if (config.tls === undefined) {
    warnings.push('no tls section: serving plain HTTP, credentials cross the network in the clear');
  } else {
    const cert = await readFileOrError(read, config.tls.cert, 'tls.cert', errors);
    const key = await readFileOrError(read, config.tls.key, 'tls.key', errors);
    const clientCa = config.tls.clientCa === undefined ? undefined : await readFileOrError(read, config.tls.clientCa, 'tls.clientCa', errors);
    if (cert !== undefined && key !== undefined) {
      const checked = checkCertificatePair(cert, key, config.tls.cert);
      if (typeof checked === 'string') errors.push(checked);
      else tls = { cert, key, notAfter: checked, ...(clientCa === undefined ? {} : { clientCa }) };
    }
  }
  const upstreamCa = config.upstreamCa === undefined ? undefined : await readFileOrError(read, config.upstreamCa, 'upstreamCa', errors);
  if (config.upstream.protocol === 'http:' && config.upstreamCa !== undefined) warnings.push('upstreamCa is set but upstream is plain http; it is not used');
  let mirrorSourceTls: ClientTlsMaterial | undefined;
  const mirror = config.mirror;
  if (mirror !== undefined && (mirror.srcCaFile !== undefined || mirror.srcCertFile !== undefined)) {
    const file = (path: string | undefined, setting: string): { path: string; setting: string } | undefined => (path === undefined ? undefined : { path, setting });
    try {
      mirrorSourceTls = await readTlsMaterial({ ca: file(mirror.srcCaFile, 'mirror.srcCaFile'), cert: file(mirror.srcCertFile, 'mirror.srcCertFile'), key: file(mirror.srcKeyFile, 'mirror.srcKeyFile') }, read);
    } catch (error) {
      if (!(error instanceof TlsFileError)) throw error;
      errors.push(error.message);
    }
    if (!mirror.src.startsWith('https:')) warnings.push('mirror.srcCaFile/srcCertFile are set but mirror.src is plain http; they are not used');
  }

  if (errors.length > 0) return { ok: false, errors: errors.map((e) => `${file}: ${e}`) };
  return {
    ok: true,
    value: {
      file, config, users, warnings,
      ...(tls === undefined ? {} : { tls }),
      ...(upstreamCa === undefined ? {} : { upstreamCa }),
      ...(mirrorSourceTls === undefined ? {} : { mirrorSourceTls }),
    },
  };
}

async function readFileOrError(read: FileSource, path: string, field: string, errors: string[]): Promise<Buffer | undefined> {
  try {
    return await read(path);
  } catch (error) {
    errors.push(`${field}: cannot read ${path}: ${(error as Error).message}`);
    return undefined;
  }
}

/** Returns the certificate's expiry, or an error naming what is wrong with the pair. */
function checkCertificatePair(cert: Buffer, key: Buffer, certPath: string): Date | string {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(cert);
  } catch (error) {
    return `tls.cert: ${certPath} is not a PEM certificate: ${(error as Error).message}`;
  }
  try {
    createSecureContext({ cert, key });
  } catch (error) {
    return `tls.key: does not match the certificate in ${certPath} or cannot be read: ${(error as Error).message}`;
  }
  const notAfter = new Date(certificate.validTo);
  if (notAfter.getTime() <= Date.now()) return `tls.cert: ${certPath} expired on ${notAfter.toISOString()}`;
  return notAfter;
}
