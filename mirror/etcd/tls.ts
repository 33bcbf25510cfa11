// TLS material for talking to an etcd (or a proxy in front of one) that
// serves a private CA's certificate or wants a client certificate: read once
// at the edge (the command line's --ca-file family, or the config's
// mirror.srcCaFile …), then handed to the v2 and v3 clients as bytes that
// still know which file and which setting they came from, so an error can
// name them.
import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';

export interface TlsFile {
  readonly path: string;
  readonly pem: Buffer;
  /** Where the path was given: `--src-ca-file`, `mirror.srcCaFile`… */
  readonly setting: string;
}

export interface TlsMaterial {
  /** Trusted instead of the system store; undefined: the system store. */
  readonly ca?: TlsFile;
  /** A client certificate and its key, always both. */
  readonly cert?: TlsFile;
  readonly key?: TlsFile;
}

/** Paths as given, each with the name of its setting. */
export interface TlsPaths {
  readonly ca?: { readonly path: string; readonly setting: string };
  readonly cert?: { readonly path: string; readonly setting: string };
  readonly key?: { readonly path: string; readonly setting: string };
}

/** A TLS file that cannot be used; the message names the setting and the file. */
export class TlsFileError extends Error {
  readonly code = 'ETCD_WARDEN_TLS_FILE';
}

/** Reads and checks the files: readable, PEM, a key that matches its certificate. Throws TlsFileError. */
/** `readBytes`: where the files come from (the proxy's config loader hands its own: config/files.ts). */
export async function readTlsMaterial(paths: TlsPaths, readBytes: (path: string) => Promise<Buffer> = readFile): Promise<TlsMaterial> {
  const read = async (given: TlsPaths['ca']): Promise<TlsFile | undefined> => {
    if (given === undefined) return undefined;
    try {
      return { ...given, pem: await readBytes(given.path) };
    } catch (error) {
      throw new TlsFileError(`${given.setting}: cannot read ${given.path}: ${(error as Error).message}`);
    }
  };
  if ((paths.cert === undefined) !== (paths.key === undefined)) {
    const [have, missing] = paths.cert === undefined ? [paths.key, 'certificate'] : [paths.cert, 'key'];
    throw new TlsFileError(`${have?.setting ?? ''} needs its client ${missing} too (--cert-file and --key-file go together)`);
  }
  const [ca, cert, key] = await Promise.all([read(paths.ca), read(paths.cert), read(paths.key)]);
  try {
    if (ca !== undefined) createSecureContext({ ca: ca.pem });
  } catch (error) {
    throw new TlsFileError(`${ca?.setting ?? ''}: ${ca?.path ?? ''} holds no usable CA certificate: ${(error as Error).message}`);
  }
  try {
    if (cert !== undefined && key !== undefined) createSecureContext({ cert: cert.pem, key: key.pem });
  } catch (error) {
    throw new TlsFileError(`${key?.setting ?? ''}: ${key?.path ?? ''} is not the key of the certificate in ${cert?.path ?? ''}, or one of them is not PEM: ${(error as Error).message}`);
  }
  return { ...(ca === undefined ? {} : { ca }), ...(cert === undefined ? {} : { cert }), ...(key === undefined ? {} : { key }) };
}

/** The options node:tls and grpc-js take. */
export function tlsOptions(material: TlsMaterial | undefined): { ca?: Buffer; cert?: Buffer; key?: Buffer } {
  return {
    ...(material?.ca === undefined ? {} : { ca: material.ca.pem }),
    ...(material?.cert === undefined ? {} : { cert: material.cert.pem }),
    ...(material?.key === undefined ? {} : { key: material.key.pem }),
  };
}

/** A connection failed on a certificate: whose, which file, and OpenSSL's reason. */
export interface CertificateProblem {
  /** The server's certificate did not verify (our CA), or the server refused ours (our certificate). */
  readonly whose: 'server' | 'client';
  /** The file at fault as "setting path", or what was missing. */
  readonly file: string;
  readonly reason: string;
}

// OpenSSL's verification results (X509_V_ERR_*) and Node's host check: the
// server's certificate is not one our CA vouches for.
const serverCertificateCodes = /^(UNABLE_TO_|SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|CERT_|ERR_TLS_CERT_ALTNAME_INVALID|HOSTNAME_MISMATCH|INVALID_CA|PATH_LENGTH_EXCEEDED|INVALID_PURPOSE)/;
// Alerts the server sent about our certificate (OpenSSL 3 names them
// ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED, ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE…).
const clientCertificateAlert = /ALERT_(CERTIFICATE_REQUIRED|BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_EXPIRED|CERTIFICATE_REVOKED|CERTIFICATE_UNKNOWN|UNSUPPORTED_CERTIFICATE|ACCESS_DENIED|DECRYPT_ERROR)/;

/** OpenSSL's "80EC…:error:0A000412:SSL routines:ssl3_read_bytes:sslv3 alert bad certificate:…:SSL alert number 42" as "sslv3 alert bad certificate (SSL alert number 42)". */
function readableReason(code: string | undefined, message: string): string {
  const alert = /:([^:]*alert[^:]*):.*?(SSL alert number \d+)/.exec(message);
  const text = alert === null ? message.replace(/^No connection established\. Last error: (Error: )?/, '').replace(/\s*(\(\d{4}-[^)]*\))?\.?\s*Resolution note:.*$/s, '') : `${alert[1] ?? ''} (${alert[2] ?? ''})`;
  return code === undefined || text.includes(code) ? text : `${code}: ${text}`;
}

/** Pure: a certificate problem from an error code and message, or undefined for any other failure. */
export function certificateProblem(code: string | undefined, message: string, material: TlsMaterial | undefined): CertificateProblem | undefined {
  const text = `${code ?? ''} ${message}`;
  if ((code !== undefined && serverCertificateCodes.test(code)) || /unable to verify|self[- ]signed certificate|certificate has expired|unable to get (local )?issuer|Hostname\/IP does not match/i.test(message)) {
    const file = material?.ca === undefined ? 'the system trust store (no CA file given)' : `${material.ca.setting} ${material.ca.path}`;
    return { whose: 'server', file, reason: readableReason(code, message) };
  }
  if (clientCertificateAlert.test(text.toUpperCase().replace(/ /g, '_'))) {
    const file = material?.cert === undefined ? 'no client certificate given' : `${material.cert.setting} ${material.cert.path}`;
    return { whose: 'client', file, reason: readableReason(code, message) };
  }
  return undefined;
}

/** One line for a log or an error: what failed, naming the file. */
export function describeCertificateProblem(problem: CertificateProblem): string {
  return problem.whose === 'server'
    ? `the server's certificate does not verify against ${problem.file}: ${problem.reason}`
    : `the server refused the client certificate (${problem.file}): ${problem.reason}`;
}

/** The certificate problem an error carries (the v2 and v3 clients' errors both may), if any. */
export function certificateOf(error: unknown): CertificateProblem | undefined {
  const certificate = (error as { certificate?: CertificateProblem } | undefined)?.certificate;
  return typeof certificate === 'object' && certificate !== null ? certificate : undefined;
}
