// A small typed etcd v2 keys client on node:http (http.ts), shared by the
// mirror's source and destination sides, the proxy's heartbeat and the
// operator commands. Ordinary requests have finite timeouts; a long-poll wait
// has none on its body, and the mirror's streaming watch (source.ts) brings
// its own liveness bound.
import type { IncomingHttpHeaders } from 'node:http';
import { bodyText, HttpOrigin, TransportError, type HttpAnswer } from './http.js';
import { certificateProblem, describeCertificateProblem, type CertificateProblem, type TlsMaterial } from './tls.js';
import { EtcdErrorCode, isEtcdWireError, type EtcdWireError } from './wire-error.js';
import type { EtcdNode } from './types.js';

export class EtcdRequestError extends Error {
  readonly code: string = 'ETCD_WARDEN_REQUEST';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A connection failed on a certificate (ours or the server's): retried like any connection failure, but logged once. */
export class EtcdCertificateError extends EtcdRequestError {
  override readonly code = 'ETCD_WARDEN_CERTIFICATE';
  constructor(
    message: string,
    readonly certificate: CertificateProblem,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** An etcd v2 error answer (errorCode, message, cause, index) with its HTTP status. */
export class EtcdApiError extends Error {
  readonly code = 'ETCD_WARDEN_ETCD_ERROR';
  constructor(
    readonly status: number,
    readonly wire: EtcdWireError,
  ) {
    super(`etcd error ${wire.errorCode}: ${wire.message} (${wire.cause}) at index ${wire.index}`);
  }
}

export interface KeyResult {
  node: EtcdNode;
  prevNode?: EtcdNode;
  action: string;
  etcdIndex: number;
}

export interface WriteConditions {
  prevValue?: string;
  prevIndex?: number;
  prevExist?: boolean;
}

export interface EtcdClientOptions {
  connections?: number;
  /** Bound on an ordinary request's headers and body. */
  timeoutMs?: number;
  /** CA, client certificate and key for an https etcd (default: the system's CAs, no client certificate). */
  tls?: TlsMaterial;
  /**
   * Told when connections start failing on a certificate (with the problem)
   * and when they work again (undefined): once per change, not per retry.
   */
  onCertificateProblem?: (problem: CertificateProblem | undefined) => void;
}

export interface WatchRequest {
  readonly waitIndex: number;
  readonly recursive?: boolean;
  /** etcd's stream=true: one response carrying event after event. */
  readonly stream?: boolean;
  readonly signal: AbortSignal;
  /** Bound on the wait for the response's headers. */
  readonly timeoutMs: number;
}

export function etcdIndexHeader(headers: IncomingHttpHeaders): number | undefined {
  const raw = headers['x-etcd-index'];
  const value = Number(Array.isArray(raw) ? raw[0] : raw);
  return Number.isFinite(value) && value > 0 ? value : undefined;
}

/** Percent-encodes each segment: keys may hold characters that are special in URLs. */
export function keyPath(key: string): string {
  return '/v2/keys' + key.split('/').map(encodeURIComponent).join('/');
}

export class EtcdClient {
  readonly origin: string;
  private readonly http: HttpOrigin;
  private readonly authorization: string | undefined;
  private readonly timeoutMs: number;
  private readonly tls: TlsMaterial | undefined;
  private readonly onCertificateProblem: ((problem: CertificateProblem | undefined) => void) | undefined;
  /** The certificate problem last reported, as its description; undefined while connections work. */
  private certificateState: string | undefined;

  constructor(url: string, options: EtcdClientOptions = {}) {
    const parsed = new URL(url);
    this.origin = parsed.origin;
    this.authorization =
      parsed.username === ''
        ? undefined
        : 'Basic ' +
          Buffer.from(`${decodeURIComponent(parsed.username)}:${decodeURIComponent(parsed.password)}`).toString('base64');
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.tls = options.tls;
    this.onCertificateProblem = options.onCertificateProblem;
    // One request per connection: a long-poll on a shared socket would block the requests behind it.
    this.http = new HttpOrigin(new URL(this.origin), { connections: options.connections ?? 16, ...(options.tls === undefined ? {} : { tls: options.tls }) });
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return this.authorization === undefined ? extra : { ...extra, authorization: this.authorization };
  }

  async close(): Promise<void> {
    this.http.close();
  }

  /** Every request goes here: failures become EtcdRequestError (EtcdCertificateError for certificates), each change of certificate state is told once. */
  private async send(method: string, path: string, headers: Record<string, string>, body: string | undefined, headersTimeoutMs: number, signal?: AbortSignal): Promise<HttpAnswer> {
    try {
      const answer = await this.http.request({ method, path, headers: this.headers(headers), headersTimeoutMs, ...(body === undefined ? {} : { body }), ...(signal === undefined ? {} : { signal }) });
      this.certificateWorks();
      return answer;
    } catch (error) {
      const cause = error instanceof TransportError ? error.causeCode : undefined;
      const problem = error instanceof TransportError && error.failure === 'connect' ? certificateProblem(cause, error.message, this.tls) : undefined;
      const where = `${method} ${this.origin}${path.split('?')[0] ?? ''}`;
      if (problem !== undefined) {
        const described = describeCertificateProblem(problem);
        if (this.certificateState !== described) {
          this.certificateState = described;
          this.onCertificateProblem?.(problem);
        }
        throw new EtcdCertificateError(`${where}: ${described}`, problem, { cause: error });
      }
      throw new EtcdRequestError(`${where}: ${describeError(error)}`, { cause: error });
    }
  }

  private certificateWorks(): void {
    if (this.certificateState === undefined) return;
    this.certificateState = undefined;
    this.onCertificateProblem?.(undefined);
  }

  /**
   * Raw request returning parsed JSON and the X-Etcd-Index header. A `wait`
   * is a long-poll: etcd sends its headers at once and the body when the
   * key changes, which may take hours, so the body has no timeout.
   */
  async call(
    method: 'GET' | 'PUT' | 'DELETE',
    path: string,
    query: URLSearchParams,
    form?: URLSearchParams,
    wait = false,
  ): Promise<{ status: number; body: unknown; etcdIndex: number | undefined }> {
    const qs = query.toString();
    const answer = await this.send(method, qs === '' ? path : `${path}?${qs}`, form === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded' }, form?.toString(), this.timeoutMs);
    let text: string;
    try {
      text = await bodyText(answer.body, wait ? 0 : this.timeoutMs);
    } catch (error) {
      throw new EtcdRequestError(`${method} ${this.origin}${path}: body: ${describeError(error)}`, { cause: error });
    }
    let body: unknown;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      throw new EtcdRequestError(`${method} ${this.origin}${path}: HTTP ${answer.statusCode}, not JSON: ${text.slice(0, 200)}`);
    }
    return { status: answer.statusCode, body, etcdIndex: etcdIndexHeader(answer.headers) };
  }

  private async keyCall(
    method: 'GET' | 'PUT' | 'DELETE',
    key: string,
    query: URLSearchParams,
    form?: URLSearchParams,
    wait = false,
  ): Promise<KeyResult> {
    const { status, body, etcdIndex } = await this.call(method, keyPath(key), query, form, wait);
    if (isEtcdWireError(body)) throw new EtcdApiError(status, body);
    if (status >= 300 || typeof body !== 'object' || body === null) {
      throw new EtcdRequestError(`${method} ${this.origin}${keyPath(key)}: unexpected HTTP ${status}`);
    }
    const result = body as { node?: EtcdNode; prevNode?: EtcdNode; action?: string };
    if (result.node === undefined) throw new EtcdRequestError(`${method} ${key}: response without node`);
    const out: KeyResult = { node: result.node, action: result.action ?? method, etcdIndex: etcdIndex ?? 0 };
    if (result.prevNode !== undefined) out.prevNode = result.prevNode;
    return out;
  }

  get(key: string, options: { recursive?: boolean; sorted?: boolean; quorum?: boolean } = {}): Promise<KeyResult> {
    const query = new URLSearchParams();
    if (options.recursive === true) query.set('recursive', 'true');
    if (options.sorted === true) query.set('sorted', 'true');
    if (options.quorum === true) query.set('quorum', 'true');
    return this.keyCall('GET', key, query);
  }

  /** Waits for the first change of `key` at or after `waitIndex` (one long-poll; close() ends it). */
  waitForChange(key: string, waitIndex: number): Promise<KeyResult> {
    return this.keyCall('GET', key, new URLSearchParams({ wait: 'true', waitIndex: String(waitIndex) }), undefined, true);
  }

  /** Opens a watch whose body the caller streams, event by event, and must read to the end or destroy (the mirror's source). */
  openWatch(key: string, request: WatchRequest): Promise<HttpAnswer> {
    const query = new URLSearchParams({ wait: 'true', ...(request.recursive === true ? { recursive: 'true' } : {}), waitIndex: String(request.waitIndex) });
    if (request.stream === true) query.set('stream', 'true');
    return this.send('GET', `${keyPath(key)}?${query.toString()}`, {}, undefined, request.timeoutMs, request.signal);
  }

  /** Reads a key, returning undefined when it does not exist (errorCode 100). */
  async read(key: string): Promise<EtcdNode | undefined> {
    try {
      return (await this.get(key)).node;
    } catch (error) {
      if (error instanceof EtcdApiError && error.wire.errorCode === EtcdErrorCode.KeyNotFound) return undefined;
      throw error;
    }
  }

  put(key: string, content: { value: string } | { dir: true }, conditions: WriteConditions = {}): Promise<KeyResult> {
    const form = new URLSearchParams();
    if ('value' in content) form.set('value', content.value);
    else form.set('dir', 'true');
    if (conditions.prevValue !== undefined) form.set('prevValue', conditions.prevValue);
    if (conditions.prevIndex !== undefined) form.set('prevIndex', String(conditions.prevIndex));
    if (conditions.prevExist !== undefined) form.set('prevExist', String(conditions.prevExist));
    return this.keyCall('PUT', key, new URLSearchParams(), form);
  }

  delete(key: string, options: { recursive?: boolean; dir?: boolean; prevValue?: string } = {}): Promise<KeyResult> {
    const query = new URLSearchParams();
    if (options.recursive === true) query.set('recursive', 'true');
    if (options.dir === true) query.set('dir', 'true');
    if (options.prevValue !== undefined) query.set('prevValue', options.prevValue);
    return this.keyCall('DELETE', key, query);
  }
}

export function describeError(error: unknown): string {
  if (error instanceof TransportError) {
    const cause = error.causeCode;
    return cause === undefined || error.message.includes(cause) ? error.message : `${cause}: ${error.message}`;
  }
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' && !code.startsWith('ETCD_WARDEN_') ? `${code}: ${error.message}` : error.message;
  }
  return String(error);
}

/** Network trouble or a server-side hiccup (5xx, raft): worth retrying with backoff. */
export function isTransient(error: unknown): boolean {
  if (error instanceof EtcdRequestError) return true;
  if (error instanceof EtcdApiError) return error.status >= 500 || error.wire.errorCode >= 300;
  return false;
}
