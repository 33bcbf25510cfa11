// The HTTP/1.1 half of the v3 JSON gateway: reads a /v3 request body
// (bounded), has gateway.ts decide, and streams etcd's gateway answer back.
// A watch or keep-alive answer is a stream that lasts as long as the client
// keeps it: no timeout of ours, and a client that goes away ends the etcd
// request.
//
// The proxy's HTTP/1.1 side (server.ts) hands it what the v2 request path
// already checked (limits, the parsed path) and the body stream.
import { request as httpRequest, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Readable } from 'node:stream';
import { newCallRecord, type V3CallObserver, type V3CallRecord } from './access.js';
import type { V3Credentials } from './credentials.js';
import { decideGatewayRequest, gatewayRoute, type GatewayOutcome } from './gateway.js';
import { leaseLookupOn } from './lease-keys.js';
import type { V3Runtime } from './runtime.js';
import type { EtcdUpstream } from './upstream.js';

export interface GatewayProxyOptions {
  /** The runtime in force now: its policy, and etcd's URL (whose gateway is served there on HTTP/1.1). */
  readonly runtime: () => V3Runtime;
  readonly credentials: V3Credentials;
  /** Request bodies above this get 413; default 4 MiB (etcd's 1.5 MiB limit, base64-inflated, with room). */
  readonly maxBodyBytes?: number;
  readonly observer?: V3CallObserver;
}

/** One gateway request, as the HTTP/1.1 side read it. */
export interface GatewayCall {
  readonly httpMethod: string;
  /** The request path as parsed (decoded, cleaned), without the query: /v3/… or /v3beta/…. */
  readonly path: string;
  readonly authorization: string | undefined;
  readonly remote: string;
  readonly body: Readable;
}

const hopByHop = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te', 'trailer']);
const textPlain = { 'content-type': 'text/plain; charset=utf-8' };

export class GatewayProxy {
  private readonly maxBodyBytes: number;
  /** Open watch and keep-alive answers, cut at shutdown. */
  private readonly streams = new Map<ServerResponse, V3CallRecord>();

  constructor(private readonly options: GatewayProxyOptions) {
    this.maxBodyBytes = options.maxBodyBytes ?? 4 * 1024 * 1024;
  }

  /** Closes every open watch or keep-alive answer mid-response, as a stopping etcd closes its connections. */
  cutStreams(reason: string): void {
    for (const [response, record] of this.streams) {
      record.reason = reason;
      response.destroy();
    }
  }

  /** Answers the call on `response`; resolves once the answer has started (a watch goes on after). */
  async handle(call: GatewayCall, response: ServerResponse): Promise<void> {
    const started = process.hrtime.bigint();
    const route = gatewayRoute(call.path);
    let record = newCallRecord('gateway', route.kind === 'method' ? route.method.name : route.path, call.remote, route.kind === 'method' && route.method.requestStream);
    let begun = false;
    // Told once, whatever ends the call: the answer, etcd, or the client leaving.
    response.once('close', () => {
      record.durationMs = Number(process.hrtime.bigint() - started) / 1e6;
      record.httpStatus = response.statusCode;
      if (!response.writableFinished && record.reason === undefined) record.reason = 'client went away before the response was complete';
      if (!begun) this.options.observer?.begin(record);
      this.options.observer?.end(record);
    });
    const answerPlain = (status: number, text: string, reason: string): void => {
      record.decision = 'bad-request';
      record.reason = reason;
      call.body.resume();
      response.writeHead(status, textPlain).end(text);
    };
    // etcd's gateway serves POST only.
    if (call.httpMethod !== 'POST') return answerPlain(405, 'Method Not Allowed\n', `the gateway serves POST, not ${call.httpMethod}`);
    const body = await this.readBody(call.body);
    if (body === undefined) return answerPlain(413, 'Request Entity Too Large\n', `body over ${this.maxBodyBytes} bytes, or cut short`);
    const runtime = this.options.runtime();
    let outcome: GatewayOutcome;
    try {
      outcome = await decideGatewayRequest(
        { path: call.path, authorization: call.authorization, remote: call.remote, body },
        route,
        { credentials: this.options.credentials, policy: runtime.policy, lookUp: leaseLookupOn(runtime.upstream) },
      );
    } catch (error) {
      // A bug of ours: refused, never forwarded undecided.
      const message = `etcd-warden: ${String(error)}`;
      record.decision = 'bad-request';
      record.reason = message;
      return void response.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: message, message, code: 13 }));
    }
    record = outcome.record;
    this.options.observer?.begin(record);
    begun = true;
    this.respond(outcome, runtime.upstream, response);
  }

  private respond(outcome: GatewayOutcome, etcd: EtcdUpstream, response: ServerResponse): void {
    if (outcome.kind === 'answer') {
      response.writeHead(outcome.status, { 'content-type': outcome.contentType }).end(outcome.body);
      return;
    }
    if (response.destroyed) return;
    if (outcome.record.stream) {
      this.streams.set(response, outcome.record);
      response.once('close', () => this.streams.delete(response));
    }
    const send = etcd.url.protocol === 'https:' ? httpsRequest : httpRequest;
    const toEtcd = send(new URL(outcome.path, etcd.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': String(outcome.body.length) },
      ...(etcd.ca === undefined ? {} : { ca: etcd.ca }),
    });
    toEtcd.on('response', (fromEtcd) => {
      const headers: Record<string, string | string[]> = {};
      for (const [name, value] of Object.entries(fromEtcd.headers)) if (value !== undefined && !hopByHop.has(name)) headers[name] = value;
      response.writeHead(fromEtcd.statusCode ?? 502, headers);
      // Each chunk as it comes: a watch writes one line per event.
      response.flushHeaders();
      if (fromEtcd.statusCode === 200) outcome.record.grpcStatus = 0;
      fromEtcd.on('error', () => response.destroy());
      fromEtcd.pipe(response);
    });
    toEtcd.on('error', (error) => {
      if (response.destroyed) return;
      if (response.headersSent) {
        outcome.record.upstreamFailed = true;
        outcome.record.reason = `etcd broke the answer off: ${error.message}`;
        return void response.destroy();
      }
      const message = `etcd-warden: cannot reach etcd: ${error.message}`;
      outcome.record.reason = message;
      outcome.record.upstreamFailed = true;
      response.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ error: message, message, code: 14 }));
    });
    // The client going away ends the request to etcd (a watch would otherwise stay open there).
    response.once('close', () => toEtcd.destroy());
    toEtcd.end(outcome.body);
  }

  /** The whole body, or undefined when it is over the limit or broke off. */
  private readBody(body: Readable): Promise<Buffer | undefined> {
    return new Promise((resolve) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const onData = (chunk: Buffer): void => {
        size += chunk.length;
        if (size <= this.maxBodyBytes) return void chunks.push(chunk);
        body.off('data', onData);
        body.resume();
        resolve(undefined);
      };
      body.on('data', onData);
      body.once('end', () => resolve(Buffer.concat(chunks)));
      // Over the proxy's maxBodyBytes (body-limit.ts), or the client left mid-body.
      body.once('error', () => resolve(undefined));
    });
  }
}
