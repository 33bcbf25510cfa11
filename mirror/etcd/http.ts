// The v2 client's transport: node:http(s) with one keep-alive agent per
// origin. Not undici (which the proxy streams with): in the mirror process,
// measured on Node 20, loading undici cost about 20 MiB of RSS and compiling
// its WebAssembly HTTP parser at the first request another 35 MiB for a
// moment; node:http's parser is native and already in the binary.
//
// Node facts this relies on (research §8): a connection that dies mid-body
// errors the response only if someone listens on it, and a request timeout
// stops firing once the socket is gone. So the request's errors are handed
// to the response after it arrives, and callers bound every wait themselves.
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { tlsOptions, type TlsMaterial } from './tls.js';

export type TransportFailure = 'connect' | 'headers-timeout' | 'body-timeout' | 'aborted';

/** A request that got no complete answer; `cause` is Node's error (with its system or TLS code). */
export class TransportError extends Error {
  readonly code = 'ETCD_WARDEN_TRANSPORT';
  constructor(
    readonly failure: TransportFailure,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** ECONNREFUSED, UNABLE_TO_VERIFY_LEAF_SIGNATURE…: the code of the underlying error. */
  get causeCode(): string | undefined {
    const code = (this.cause as { code?: unknown } | undefined)?.code;
    return typeof code === 'string' ? code : undefined;
  }
}

export interface HttpAnswer {
  readonly statusCode: number;
  readonly headers: IncomingHttpHeaders;
  /** Read it to the end (text()), iterate it, or destroy it. */
  readonly body: IncomingMessage;
}

export interface HttpRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
  /** Bound on the wait for the response's headers. */
  readonly headersTimeoutMs: number;
  readonly signal?: AbortSignal;
}

/** Free keep-alive sockets are closed after this, before etcd's or a proxy's idle limit (72 s by default). */
const idleSocketMs = 30_000;

export class HttpOrigin {
  private readonly agent: HttpAgent;
  private readonly secure: boolean;

  constructor(
    readonly origin: URL,
    options: { readonly connections: number; readonly tls?: TlsMaterial },
  ) {
    this.secure = origin.protocol === 'https:';
    const shared = { keepAlive: true, maxSockets: options.connections, maxFreeSockets: options.connections, timeout: idleSocketMs, scheduling: 'lifo' as const };
    this.agent = this.secure ? new HttpsAgent({ ...shared, ...tlsOptions(options.tls) }) : new HttpAgent(shared);
  }

  request(request: HttpRequest): Promise<HttpAnswer> {
    const send = this.secure ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      let answered = false;
      const outgoing = send({
        agent: this.agent,
        protocol: this.origin.protocol,
        hostname: this.origin.hostname.replace(/^\[|\]$/g, ''),
        port: this.origin.port,
        method: request.method,
        path: request.path,
        headers: request.body === undefined ? request.headers : { ...request.headers, 'content-length': String(Buffer.byteLength(request.body)) },
        ...(request.signal === undefined ? {} : { signal: request.signal }),
      });
      const timer = setTimeout(() => outgoing.destroy(new TransportError('headers-timeout', `no response headers within ${request.headersTimeoutMs} ms`)), request.headersTimeoutMs);
      outgoing.on('error', (error: Error) => {
        clearTimeout(timer);
        if (answered) return;
        answered = true;
        reject(error instanceof TransportError ? error : new TransportError(isAbort(error) ? 'aborted' : 'connect', error.message, { cause: error }));
      });
      outgoing.on('response', (response: IncomingMessage) => {
        clearTimeout(timer);
        answered = true;
        // From here on a failure belongs to the body: whoever reads it sees it.
        outgoing.on('error', (error: Error) => response.destroy(new TransportError(isAbort(error) ? 'aborted' : 'connect', error.message, { cause: error })));
        resolve({ statusCode: response.statusCode ?? 0, headers: response.headers, body: response });
      });
      outgoing.end(request.body);
    });
  }

  /** Ends every request in flight and every idle socket. */
  close(): void {
    this.agent.destroy();
  }
}

function isAbort(error: Error): boolean {
  return error.name === 'AbortError';
}

/** The whole body as text, with no more than `idleMs` between two chunks (0: no bound). */
export async function bodyText(body: IncomingMessage, idleMs: number): Promise<string> {
  const chunks: Buffer[] = [];
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    if (idleMs <= 0) return;
    clearTimeout(timer);
    timer = setTimeout(() => body.destroy(new TransportError('body-timeout', `no body bytes for ${idleMs} ms`)), idleMs);
  };
  arm();
  try {
    for await (const chunk of body) {
      chunks.push(chunk as Buffer);
      arm();
    }
  } catch (error) {
    if (error instanceof TransportError) throw error;
    throw new TransportError(isAbort(error as Error) ? 'aborted' : 'connect', (error as Error).message, { cause: error });
  } finally {
    clearTimeout(timer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
