// Reads the member list from the proxy's own etcd and reports every client
// URL that goes around the proxy (member-urls.ts decides): at start, after
// each reload and every minute, with a log line naming the URL and the fix,
// etcd_warden_member_url_bypass{member,url} and /healthz "degraded". The
// same reading serves `check-config --online`.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Logger } from 'pino';
import { memberUrlBypasses, parseMemberList, parseSelfId, type MemberUrlBypass } from './member-urls.js';
import type { ProxyMetrics } from './metrics.js';
import type { UpstreamOptions } from './upstream.js';

export type MemberUrlReading = { readonly ok: true; readonly bypasses: readonly MemberUrlBypass[] } | { readonly ok: false; readonly error: string };

/** Where this proxy is reached and where its etcd listens: what an advertised URL is judged against. */
export interface ProxiedUrls {
  readonly advertise: URL | undefined;
  readonly upstream: URL;
}

/** One reading of /v2/members and /v2/stats/self from the upstream etcd, judged against the proxy's URLs. */
export async function readMemberUrls(upstream: UpstreamOptions, urls: ProxiedUrls): Promise<MemberUrlReading> {
  let members: unknown;
  let self: unknown;
  try {
    [members, self] = await Promise.all([getJson(upstream, '/v2/members'), getJson(upstream, '/v2/stats/self')]);
  } catch (error) {
    return { ok: false, error: `cannot read the member list from ${upstream.origin.origin}: ${(error as Error).message}` };
  }
  const listed = parseMemberList(members);
  if (listed === undefined) return { ok: false, error: `${upstream.origin.origin}/v2/members did not answer a member list` };
  return { ok: true, bypasses: memberUrlBypasses(listed, { localMemberId: parseSelfId(self), advertise: urls.advertise, upstream: urls.upstream }) };
}

/**
 * Two small GETs a minute, on a connection of their own (node:http): the
 * check also runs in the cluster's primary, which serves no request.
 */
function getJson(upstream: UpstreamOptions, path: string): Promise<unknown> {
  const send = upstream.origin.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const request = send(new URL(path, upstream.origin), { timeout: upstream.connectTimeoutMs + upstream.requestTimeoutMs, ...(upstream.ca === undefined ? {} : { ca: upstream.ca }) }, (response: IncomingMessage) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', reject);
      response.on('end', () => {
        if (response.statusCode !== 200) reject(new Error(`${path} answered HTTP ${response.statusCode}`));
        else {
          try {
            resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
          } catch (error) {
            reject(new Error(`${path} answered something other than JSON: ${(error as Error).message}`));
          }
        }
      });
    });
    request.on('timeout', () => request.destroy(new Error(`${path}: no answer in time`)));
    request.on('error', reject);
    request.end();
  });
}

export interface MemberUrlCheckDependencies {
  readonly log: Logger;
  readonly metrics: ProxyMetrics;
  /** Where etcd is and this proxy's URL, as the config in force says now (it changes on reload). */
  readonly current: () => { readonly upstreamOptions: UpstreamOptions; readonly advertise: URL | undefined };
}

// A member's URLs change only when etcd restarts; a minute bounds how long a
// mis-advertised restart goes unnoticed, at two tiny GETs per minute.
const checkIntervalMs = 60_000;

export class MemberUrlCheck {
  private bypasses: readonly MemberUrlBypass[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();

  constructor(private readonly deps: MemberUrlCheckDependencies) {}

  /** Checks now, then every minute. */
  start(): void {
    if (this.deps.current().advertise === undefined) {
      this.deps.log.warn('advertise is not set: the member-URL check can only see a member advertising etcd\'s own listener; set it to this proxy\'s public URL (the URL etcd must advertise)');
    }
    void this.checkNow();
    this.timer = setInterval(() => void this.checkNow(), checkIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** What /healthz reports: one line per URL that goes around the proxy. */
  problems(): string[] {
    return this.bypasses.map((bypass) => `etcd member ${bypass.member} advertises client URL ${bypass.url}, which ${bypass.problem}; fix: ${bypass.fix}`);
  }

  /** One check; runs after any check still in progress, so results land in order. */
  checkNow(): Promise<void> {
    this.running = this.running.then(() => this.check());
    return this.running;
  }

  private async check(): Promise<void> {
    const current = this.deps.current();
    const reading = await readMemberUrls(current.upstreamOptions, { advertise: current.advertise, upstream: current.upstreamOptions.origin });
    if (!reading.ok) {
      // Keep the last verdict: an etcd restarting says nothing about its URLs.
      this.deps.log.warn({ error: reading.error }, 'cannot check the URLs etcd advertises; will retry in a minute');
      return;
    }
    this.bypasses = reading.bypasses;
    this.deps.metrics.memberUrlBypass.reset();
    for (const bypass of reading.bypasses) {
      this.deps.metrics.memberUrlBypass.set({ member: bypass.member, url: bypass.url }, 1);
      this.deps.log.error(bypass, `etcd member ${bypass.member} advertises client URL ${bypass.url}, which goes around this proxy; fix: ${bypass.fix}`);
    }
  }
}
