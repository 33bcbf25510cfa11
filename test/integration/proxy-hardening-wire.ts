// Raw HTTP/1.1 over a socket: the tests write exactly the bytes an attacker
// would (lower-case methods, absolute-form targets, conflicting framing,
// several requests on one connection), which Node's own client refuses to
// send, and read back every response the server wrote, in order.
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

export interface WireResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export interface WireExchange {
  /** Every complete response, in the order the server sent them. */
  readonly responses: readonly WireResponse[];
  /** Bytes after the last complete response (a truncated answer, or garbage). */
  readonly trailing: string;
  /** The server closed the connection (rather than our timeout ending the wait). */
  readonly closedByServer: boolean;
  readonly error?: string;
}

export interface WireOptions {
  /** Stop waiting after this long; the exchange so far is returned. */
  readonly timeoutMs?: number;
  /** Stop as soon as this many responses have arrived (for keep-alive connections). */
  readonly expectResponses?: number;
  readonly localAddress?: string;
  /** Sent in pieces with this pause between them (for slow-client tests). */
  readonly pieces?: readonly (string | Buffer)[];
  readonly pauseMs?: number;
  /** TLS: the CA to trust, and an optional client certificate. */
  readonly tls?: { readonly ca: Buffer; readonly cert?: Buffer; readonly key?: Buffer };
}

/** Sends `bytes` to `url`'s host and port as they are, and collects the answers. */
export function sendRaw(url: string, bytes: string | Buffer, options: WireOptions = {}): Promise<WireExchange> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let settled = false;
    let closedByServer = false;
    let error: string | undefined;
    const socket: Socket =
      options.tls === undefined
        ? netConnect({ host: hostname, port: Number(port), ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }) })
        : tlsConnect({ host: hostname, port: Number(port), ca: options.tls.ca, ...(options.tls.cert === undefined ? {} : { cert: options.tls.cert, key: options.tls.key }) });
    const finish = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const parsed = parseResponses(Buffer.concat(chunks));
      resolve({ responses: parsed.responses, trailing: parsed.trailing, closedByServer, ...(error === undefined ? {} : { error }) });
    };
    const timer = setTimeout(finish, options.timeoutMs ?? 10_000);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (options.expectResponses !== undefined && parseResponses(Buffer.concat(chunks)).responses.length >= options.expectResponses) finish();
    });
    socket.on('end', () => {
      closedByServer = true;
      finish();
    });
    socket.on('close', () => {
      closedByServer = true;
      finish();
    });
    socket.on('error', (e: Error) => {
      error = e.message;
    });
    const ready = options.tls === undefined ? 'connect' : 'secureConnect';
    socket.once(ready, () => {
      void (async () => {
        if (options.pieces === undefined) {
          socket.write(bytes);
          return;
        }
        for (const piece of options.pieces) {
          if (settled || socket.destroyed) return;
          socket.write(piece);
          await new Promise((wake) => setTimeout(wake, options.pauseMs ?? 100));
        }
      })();
    });
  });
}

/** Parses back-to-back HTTP/1.1 responses (Content-Length, chunked, or until close). */
export function parseResponses(data: Buffer): { responses: WireResponse[]; trailing: string } {
  const responses: WireResponse[] = [];
  let offset = 0;
  while (offset < data.length) {
    const headEnd = data.indexOf('\r\n\r\n', offset);
    if (headEnd < 0) break;
    const lines = data.subarray(offset, headEnd).toString('latin1').split('\r\n');
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 0);
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    let cursor = headEnd + 4;
    let body: Buffer;
    if (headers['content-length'] !== undefined) {
      const length = Number(headers['content-length']);
      if (cursor + length > data.length) break;
      body = data.subarray(cursor, cursor + length);
      cursor += length;
    } else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      const parts: Buffer[] = [];
      let complete = false;
      for (;;) {
        const sizeEnd = data.indexOf('\r\n', cursor);
        if (sizeEnd < 0) break;
        const size = Number.parseInt(data.subarray(cursor, sizeEnd).toString('latin1'), 16);
        if (Number.isNaN(size) || sizeEnd + 2 + size + 2 > data.length) break;
        parts.push(data.subarray(sizeEnd + 2, sizeEnd + 2 + size));
        cursor = sizeEnd + 2 + size + 2;
        if (size === 0) {
          complete = true;
          break;
        }
      }
      if (!complete) break;
      body = Buffer.concat(parts);
    } else if (status === 204 || status === 304 || (status >= 100 && status < 200)) {
      body = Buffer.alloc(0);
    } else {
      body = data.subarray(cursor);
      cursor = data.length;
    }
    responses.push({ status, headers, body: body.toString() });
    offset = cursor;
  }
  return { responses, trailing: data.subarray(offset).toString('latin1') };
}

/** One request, framed with Content-Length, as a string of bytes. */
export function requestBytes(method: string, target: string, headers: Readonly<Record<string, string>>, body = ''): string {
  const lines = [`${method} ${target} HTTP/1.1`, 'Host: 127.0.0.1', ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`)];
  if (body !== '' || method.toUpperCase() === 'PUT' || method.toUpperCase() === 'POST') {
    lines.push('Content-Type: application/x-www-form-urlencoded', `Content-Length: ${Buffer.byteLength(body)}`);
  }
  return lines.join('\r\n') + '\r\n\r\n' + body;
}
