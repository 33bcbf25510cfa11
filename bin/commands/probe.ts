// One GET for the operator commands, with a finite timeout and the TLS
// family's material (health checks run from hosts whose trust store may not
// hold the cluster's CA, and etcd may want a client certificate). Failures
// are a ProbeError with a code, so a report can say "unreachable" versus
// "timeout" without parsing messages.
import { Agent, errors as undiciErrors, request } from 'undici';
import { certificateProblem, describeCertificateProblem, tlsOptions, type TlsMaterial } from '../../mirror/etcd/tls.js';

export class ProbeError extends Error {
  constructor(
    readonly code: 'ETCD_WARDEN_PROBE_UNREACHABLE' | 'ETCD_WARDEN_PROBE_TIMEOUT',
    message: string,
  ) {
    super(message);
  }
}

export interface ProbeAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly body: string;
}

export interface Prober {
  get(url: string): Promise<ProbeAnswer>;
  close(): Promise<void>;
}

export function createProber(options: { tls?: TlsMaterial | undefined; timeoutMs?: number } = {}): Prober {
  const timeoutMs = options.timeoutMs ?? 5_000;
  const agent = new Agent({ connect: { timeout: timeoutMs, ...tlsOptions(options.tls) } });
  return {
    async get(url) {
      const parsed = new URL(url);
      // undici refuses credentials in the URL; send them as etcd expects.
      const headers: Record<string, string> = {};
      if (parsed.username !== '') {
        headers.authorization = 'Basic ' + Buffer.from(`${decodeURIComponent(parsed.username)}:${decodeURIComponent(parsed.password)}`).toString('base64');
        parsed.username = '';
        parsed.password = '';
      }
      try {
        const response = await request(parsed, { dispatcher: agent, headers, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
        const flat: Record<string, string | undefined> = {};
        for (const [name, value] of Object.entries(response.headers)) flat[name] = Array.isArray(value) ? value.join(', ') : value;
        return { status: response.statusCode, headers: flat, body: await response.body.text() };
      } catch (error) {
        const timedOut =
          error instanceof undiciErrors.HeadersTimeoutError ||
          error instanceof undiciErrors.BodyTimeoutError ||
          error instanceof undiciErrors.ConnectTimeoutError;
        const message = error instanceof Error ? error.message : String(error);
        const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
        const code = typeof cause?.code === 'string' ? cause.code : undefined;
        const certificate = certificateProblem(code, typeof cause?.message === 'string' ? cause.message : message, options.tls);
        const detail = certificate !== undefined ? describeCertificateProblem(certificate) : code !== undefined ? `${code}: ${message}` : message;
        throw new ProbeError(timedOut ? 'ETCD_WARDEN_PROBE_TIMEOUT' : 'ETCD_WARDEN_PROBE_UNREACHABLE', detail);
      }
    },
    close: () => agent.close(),
  };
}

/** Parses a JSON body, or undefined when it is not JSON. */
export function jsonBody(answer: ProbeAnswer): unknown {
  try {
    return JSON.parse(answer.body);
  } catch {
    return undefined;
  }
}
