// The HTTP/1.1 half of the v3 JSON gateway: reads a /v3 request (bounded),
// has gateway.ts decide, and streams etcd's gateway answer back. A watch or
// keep-alive answer is a stream that lasts as long as the client keeps it:
// no timeout of ours, and a client that goes away ends the etcd request.
//
// It takes node's request and response objects, so it runs under fastify
// (request.raw, reply.raw after reply.hijack()) or a bare node:http server.
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { V3CallRecord } from './access.js';
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
  readonly onCallEnd?: (record: V3CallRecord) => void;
}

const hopByHop = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te', 'trailer']);

export class GatewayProxy {
  private readonly maxBodyBytes: number;

  constructor(private readonly options: GatewayProxyOptions) {
    this.maxBodyBytes = options.maxBodyBytes ?? 4 * 1024 * 1024;
  }

  /** Whether a request path is the gateway's (the HTTP/1 wiring routes these here). */
  handles(url: string): boolean {
    return /^\/v3(beta|alpha)?\//.test(url);
  }

  handle(request: IncomingMessage, response: ServerResponse): void {
    const started = process.hrtime.bigint();
    const finish = (record: V3CallRecord): void => {
      record.durationMs = Number(process.hrtime.bigint() - started) / 1e6;
      this.options.onCallEnd?.(record);
    };
    const route = gatewayRoute(request.url ?? '');
    // etcd's own answers to a path or method its gateway does not serve.
    if (route === undefined) return void response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('Not Found\n');
    if (request.method !== 'POST') return void response.writeHead(405, { 'content-type': 'text/plain; charset=utf-8' }).end('Method Not Allowed\n');
    void this.readBody(request).then(async (body) => {
      if (body === undefined) return void response.writeHead(413, { 'content-type': 'text/plain; charset=utf-8' }).end('Request Entity Too Large\n');
      const runtime = this.options.runtime();
      const outcome = await decideGatewayRequest(
        { path: request.url ?? '', authorization: request.headers.authorization, remote: request.socket.remoteAddress ?? '', body },
        route,
        { credentials: this.options.credentials, policy: runtime.policy, lookUp: leaseLookupOn(runtime.upstream) },
      );
      this.respond(outcome, runtime.upstream, response, finish);
    }).catch((error: unknown) => {
      if (!response.headersSent) response.writeHead(500, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ error: `etcd-warden: ${String(error)}`, code: 13 }));
    });
  }

  private respond(outcome: GatewayOutcome, etcd: EtcdUpstream, response: ServerResponse, finish: (record: V3CallRecord) => void): void {
    if (outcome.kind === 'answer') {
      response.writeHead(outcome.status, { 'content-type': outcome.contentType }).end(outcome.body);
      finish(outcome.record);
      return;
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
      fromEtcd.pipe(response);
      fromEtcd.on('end', () => {
        outcome.record.grpcStatus = fromEtcd.statusCode === 200 ? 0 : undefined;
        finish(outcome.record);
      });
    });
    toEtcd.on('error', (error) => {
      if (!response.headersSent) {
        response.writeHead(503, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ error: `etcd-warden: cannot reach etcd: ${error.message}`, message: `etcd-warden: cannot reach etcd: ${error.message}`, code: 14 }));
      } else response.destroy();
      finish(outcome.record);
    });
    // The client going away ends the request to etcd (a watch would otherwise stay open there).
    response.on('close', () => toEtcd.destroy());
    toEtcd.end(outcome.body);
  }

  private readBody(request: IncomingMessage): Promise<Buffer | undefined> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      request.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > this.maxBodyBytes) {
          request.removeAllListeners('data');
          request.resume();
          resolve(undefined);
          return;
        }
        chunks.push(chunk);
      });
      request.on('end', () => resolve(Buffer.concat(chunks)));
      request.on('error', reject);
    });
  }
}
