// Pure: does any etcd member advertise a client URL that goes around the
// proxy? etcdctl (v2, by default) and python-etcd (allow_reconnect=True) read
// the member list through the proxy and then talk to the client URLs etcd
// advertises. When that is etcd's own listener, an anonymous
// `etcdctl set` through the proxy wrote: the ACLs were a no-op (issue 8).
// So every member must advertise its proxy's public URL, never etcd's own.

export interface AdvertisedMember {
  readonly id: string;
  readonly name: string;
  readonly clientURLs: readonly string[];
}

export interface MemberUrlRules {
  /** The member behind this proxy (from its /v2/stats/self), when known. */
  readonly localMemberId: string | undefined;
  /** This proxy's public URL (config `advertise`); without it only the plainest bypass can be seen. */
  readonly advertise: URL | undefined;
  /** etcd's own client listener, as this proxy reaches it. */
  readonly upstream: URL;
}

export interface MemberUrlBypass {
  /** The member's name, or its id when it has none yet. */
  readonly member: string;
  readonly url: string;
  readonly problem: string;
  /** What the operator should change, in their terms (etcd flags, this config). */
  readonly fix: string;
}

export function memberUrlBypasses(members: readonly AdvertisedMember[], rules: MemberUrlRules): MemberUrlBypass[] {
  const found: MemberUrlBypass[] = [];
  for (const member of members) {
    const local = member.id === rules.localMemberId;
    const label = member.name === '' ? member.id : member.name;
    for (const url of member.clientURLs) {
      const problem = urlProblem(url, local, rules);
      if (problem !== undefined) found.push({ member: label, url, problem, fix: fixFor(local, rules) });
    }
  }
  return found;
}

function urlProblem(text: string, local: boolean, rules: MemberUrlRules): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'is not a URL a client can use';
  }
  if (url.origin === rules.upstream.origin) return "is etcd's own client listener, the proxy's upstream: clients that sync the member list talk to etcd directly, without TLS, authentication or ACLs";
  const advertise = rules.advertise;
  if (advertise === undefined) return undefined;
  if (local) {
    return url.origin === advertise.origin ? undefined : `is not this proxy's advertise URL ${advertise.origin}: clients that sync the member list go there instead of through the proxy`;
  }
  // Every member runs its proxy on the same scheme and port (4001 in production).
  if (url.protocol !== advertise.protocol || effectivePort(url) !== effectivePort(advertise)) {
    return `does not use the proxies' scheme and port (${advertise.protocol}//…:${effectivePort(advertise)}): clients that sync the member list may reach etcd directly there`;
  }
  if (isLoopback(url.hostname) && !isLoopback(advertise.hostname)) return "is a loopback address: a client that syncs the member list connects to whatever listens on its own machine";
  return undefined;
}

function fixFor(local: boolean, rules: MemberUrlRules): string {
  const loopbackOnly = `--listen-client-urls ${rules.upstream.origin} (loopback only)`;
  if (!local) return 'on that member, start etcd with --advertise-client-urls set to its proxy\'s public URL and --listen-client-urls on loopback only, then restart it';
  if (rules.advertise === undefined) return `set \`advertise\` in this proxy's config to its public URL, start etcd with --advertise-client-urls set to that URL and ${loopbackOnly}, then restart etcd`;
  return `start etcd with --advertise-client-urls ${rules.advertise.origin} and ${loopbackOnly}, then restart etcd`;
}

function effectivePort(url: URL): string {
  if (url.port !== '') return url.port;
  return url.protocol === 'https:' ? '443' : '80';
}

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

/** The member list from etcd's /v2/members body, or undefined when it is not one. */
export function parseMemberList(body: unknown): AdvertisedMember[] | undefined {
  const members = (body as { members?: unknown } | null)?.members;
  if (!Array.isArray(members)) return undefined;
  const parsed: AdvertisedMember[] = [];
  for (const entry of members as unknown[]) {
    if (typeof entry !== 'object' || entry === null) return undefined;
    const { id, name, clientURLs } = entry as { id?: unknown; name?: unknown; clientURLs?: unknown };
    if (typeof id !== 'string') return undefined;
    const urls = Array.isArray(clientURLs) ? clientURLs.filter((url): url is string => typeof url === 'string') : [];
    parsed.push({ id, name: typeof name === 'string' ? name : '', clientURLs: urls });
  }
  return parsed;
}

/** The local member's id from etcd's /v2/stats/self body. */
export function parseSelfId(body: unknown): string | undefined {
  const id = (body as { id?: unknown } | null)?.id;
  return typeof id === 'string' && id !== '' ? id : undefined;
}
