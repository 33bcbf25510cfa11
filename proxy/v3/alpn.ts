// One port for the v2 API, the v3 JSON gateway and gRPC, as etcd serves
// them: each connection goes to the HTTP/1.1 server (node:http: v2 and the
// gateway) or to the HTTP/2 server (gRPC, grpc-proxy.ts).
//
// With TLS the choice is ALPN's, made by chooseProtocol: a client that can
// speak HTTP/1.1 gets HTTP/1.1, a client that offers only h2 gets h2. gRPC
// clients offer only h2 (grpc-go, hence etcdctl: ["h2"]; grpc-js: ["h2"];
// grpcio, hence python-etcd3: ["grpc-exp", "h2"]), while curl, browsers and
// Go's net/http offer h2 *and* http/1.1 and keep working on HTTP/1.1 for v2
// instead of landing on a gRPC-only server. A client offering neither is
// refused by TLS (no_application_protocol); one sending no ALPN gets HTTP/1.1.
//
// Without TLS (a plain-HTTP proxy), the first bytes decide: HTTP/2's
// connection preface means h2c (gRPC with prior knowledge), anything else
// is HTTP/1.1, as etcd's cmux decides on its plain port.
import { createServer as createHttp2Server, type Http2Server, type ServerOptions as Http2ServerOptions } from 'node:http2';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer, type TlsOptions, type TLSSocket } from 'node:tls';
import type { GrpcProxy } from './grpc-proxy.js';

/** Anything that takes a connection the way node's servers do: `emit('connection', socket)`. */
export interface ConnectionTarget {
  emit(event: 'connection', socket: Socket): boolean;
}

export interface ProtocolTargets {
  /** v2 and the JSON gateway: server.ts's node:http server. */
  readonly http1: ConnectionTarget;
  /** gRPC: a plain (non-TLS) node:http2 server, e.g. from createGrpcServer. */
  readonly http2: ConnectionTarget;
}

export type ChosenProtocol = 'http/1.1' | 'h2';

/** The ALPN answer for the protocols a client offers; undefined refuses the handshake. */
export function chooseProtocol(offered: readonly string[]): ChosenProtocol | undefined {
  if (offered.includes('http/1.1')) return 'http/1.1';
  if (offered.includes('h2')) return 'h2';
  return undefined;
}

/** A TLS listener that hands each connection to the server its ALPN protocol names. */
export function createTlsDispatcher(tls: TlsOptions, targets: ProtocolTargets): TlsServer {
  const { ALPNProtocols: _ignored, ...rest } = tls;
  const server = createTlsServer({ ...rest, ALPNCallback: ({ protocols }) => chooseProtocol(protocols) });
  server.on('secureConnection', (socket: TLSSocket) => {
    (socket.alpnProtocol === 'h2' ? targets.http2 : targets.http1).emit('connection', socket);
  });
  return server;
}

const http2Preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/**
 * The plain-TCP version: sniffs HTTP/2's preface, then hands the connection
 * over with the bytes read. A client that sends too little to tell within
 * `undecidedTimeoutMs` is closed (the servers' own timeouts start at hand-over).
 */
export function createPlainDispatcher(targets: ProtocolTargets, undecidedTimeoutMs = 30_000): NetServer {
  return createNetServer((socket) => {
    let seen = Buffer.alloc(0);
    socket.setTimeout(undecidedTimeoutMs, () => socket.destroy());
    const handOver = (target: ConnectionTarget, flowing: boolean): void => {
      socket.setTimeout(0);
      socket.off('data', onData);
      socket.pause();
      socket.unshift(seen);
      target.emit('connection', socket);
      // node:http takes the bytes given back through 'data' events, which a
      // paused socket holds back (resumed on the next tick, before any later
      // read); node:http2 reads the buffered bytes itself on the next tick,
      // and resuming first would hand them to no one.
      if (flowing) socket.resume();
    };
    const onData = (chunk: Buffer): void => {
      seen = Buffer.concat([seen, chunk]);
      const compared = Math.min(seen.length, http2Preface.length);
      if (!seen.subarray(0, compared).equals(http2Preface.subarray(0, compared))) handOver(targets.http1, true);
      else if (seen.length >= http2Preface.length) handOver(targets.http2, false);
    };
    socket.on('data', onData);
    socket.on('error', () => socket.destroy());
  });
}

/** What one client may make the HTTP/2 side hold, as v2's limits say for HTTP/1.1. */
export interface GrpcServerLimits {
  /** Header block size (HTTP/2's SETTINGS_MAX_HEADER_LIST_SIZE); larger ones reset the stream. */
  readonly maxHeaderBytes: number;
  /** Header fields per request. */
  readonly maxHeaderCount: number;
}

/**
 * The HTTP/2 side: a plain http2 server (TLS is the dispatcher's) whose
 * every stream goes to the gRPC proxy. No timeouts: watches last for hours.
 */
export function createGrpcServer(proxy: GrpcProxy, limits?: GrpcServerLimits, options: Http2ServerOptions = {}): Http2Server {
  const server = createHttp2Server({
    // A watch stream holds no data of ours, so many may share a connection;
    // a 1 MiB window lets a 1.5 MiB Put arrive in two round trips, not 24.
    settings: { maxConcurrentStreams: 1000, initialWindowSize: 1024 * 1024, ...(limits === undefined ? {} : { maxHeaderListSize: limits.maxHeaderBytes }) },
    // Node counts the four pseudo-headers of a request among the pairs.
    ...(limits === undefined ? {} : { maxHeaderListPairs: limits.maxHeaderCount + 4 }),
    ...options,
  });
  server.on('stream', (stream, headers) => proxy.handleStream(stream, headers));
  server.on('sessionError', () => undefined);
  return server;
}
