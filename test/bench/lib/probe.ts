// One-off requests from the bench process: readiness probes and the
// preflight that checks each scenario answers what it should before wrk
// measures it (a misconfigured 401 is very fast and would look like a win).
import http from 'node:http';
import https from 'node:https';

export interface ProbeAnswer {
  readonly status: number;
  readonly body: string;
}

export interface ProbeRequest {
  readonly method?: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  readonly timeoutMs?: number;
}

export async function probe(url: string, request: ProbeRequest = {}): Promise<ProbeAnswer> {
  const target = new URL(url);
  const client = target.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const outgoing = client.request(target, {
      method: request.method ?? 'GET',
      headers: {
        ...(request.body === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(Buffer.byteLength(request.body)) }),
        ...request.headers,
      },
      agent: false,
      rejectUnauthorized: false,
      timeout: request.timeoutMs ?? 5_000,
    });
    outgoing.once('timeout', () => outgoing.destroy(new Error(`${url}: no answer within ${request.timeoutMs ?? 5_000} ms`)));
    outgoing.once('error', reject);
    outgoing.once('response', (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.once('end', () => resolve({ status: response.statusCode ?? 0, body }));
      response.once('error', reject);
    });
    outgoing.end(request.body);
  });
}

/** Fails with the answer in the message unless the status is one of `expected`. */
export async function expectStatus(label: string, url: string, expected: readonly number[], request: ProbeRequest = {}): Promise<void> {
  const answer = await probe(url, request);
  if (!expected.includes(answer.status)) {
    throw new Error(`preflight "${label}": ${request.method ?? 'GET'} ${url} answered ${answer.status}, expected ${expected.join(' or ')}: ${answer.body.slice(0, 300)}`);
  }
}
