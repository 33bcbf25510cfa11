// How one mirror reaches its two clusters: the URL, the TLS material of that
// side, and one log line per change of certificate state (error when TLS
// starts failing on a certificate, naming the file; info when it works
// again), where every retry would otherwise log the same warning again.
import type { MirrorLog } from './log.js';
import { EtcdClient } from './etcd/client.js';
import { describeCertificateProblem, type CertificateProblem } from './etcd/tls.js';
import type { EtcdV3ClientOptions } from './etcd/v3/client.js';
import { redactUrl, type MirrorOptions } from './options.js';

export type Side = 'source' | 'destination';

export function certificateLog(log: MirrorLog, side: Side, url: string): (problem: CertificateProblem | undefined) => void {
  return (problem) => {
    if (problem === undefined) {
      log.info({ side, url: redactUrl(url) }, `TLS to the ${side} works again`);
      return;
    }
    log.error({ side, url: redactUrl(url), file: problem.file, reason: problem.reason }, `TLS to the ${side} fails: ${describeCertificateProblem(problem)} (retrying; logged again when this changes)`);
  };
}

function sideOf(options: MirrorOptions, side: Side): { url: string; tls: MirrorOptions['tls']['src'] } {
  return side === 'source' ? { url: options.src, tls: options.tls.src } : { url: options.dst, tls: options.tls.dst };
}

/** A v2 client for one side; `connections` bounds its sockets. */
export function v2Client(options: MirrorOptions, side: Side, log: MirrorLog, connections: number): EtcdClient {
  const { url, tls } = sideOf(options, side);
  return new EtcdClient(url, { connections, onCertificateProblem: certificateLog(log, side, url), ...(tls === undefined ? {} : { tls }) });
}

/** The v3 client's URL and options for one side (the v3 client is loaded only by a v3 mirror). */
export function v3Connection(options: MirrorOptions, side: Side, log: MirrorLog): { readonly url: string; readonly options: EtcdV3ClientOptions } {
  const { url, tls } = sideOf(options, side);
  return { url, options: { onCertificateProblem: certificateLog(log, side, url), ...(tls === undefined ? {} : { tls }) } };
}
