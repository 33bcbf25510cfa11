// The proxy's one client port, served as etcd serves its own: v2 and the v3
// JSON gateway on HTTP/1.1 (server.ts's node:http server), gRPC on HTTP/2
// (the v3 gRPC proxy). With TLS, ALPN chooses (proxy/v3/alpn.ts: a client
// offering http/1.1 keeps it, an h2-only client, every gRPC client, gets
// h2); on a plain port the first bytes do (HTTP/2's preface means h2c, as
// etcd's cmux decides). Every limit counts from the TCP accept, whatever
// protocol follows: the connection cap, the TLS handshake timeout, idle
// connections.
import type { Server as HttpServer } from 'node:http';
import type { Http2Server, ServerHttp2Session } from 'node:http2';
import type { AddressInfo, Server as NetServer, Socket } from 'node:net';
import type { Server as TlsServer } from 'node:tls';
import type { TlsMaterial } from '../config/load.js';
import type { ClientLimits, ListenAddress, Timeouts } from '../config/schema.js';
import { tlsOptions } from './tls.js';
import { createGrpcServer, createPlainDispatcher, createTlsDispatcher } from './v3/alpn.js';
import type { GrpcProxy } from './v3/grpc-proxy.js';

export interface ClientPortOptions {
  readonly tls: TlsMaterial | undefined;
  readonly timeouts: Timeouts;
  readonly limits: ClientLimits;
  /** The HTTP/1.1 server (server.ts): it never listens itself, the port hands it its connections. */
  readonly http1: HttpServer;
  readonly grpc: GrpcProxy;
  /** Every accepted TCP connection, before TLS or any byte is read: the cap counts here. */
  readonly accepted: (socket: Socket) => void;
  /** Session ticket keys shared with the other proxy processes on this port (tls.ts). */
  readonly ticketKeys?: Buffer;
}

export class ClientPort {
  private readonly listener: TlsServer | NetServer;
  private readonly http2: Http2Server;
  private readonly sessions = new Set<ServerHttp2Session>();
  private readonly tls: boolean;
  private readonly ticketKeys: Buffer | undefined;

  constructor(options: ClientPortOptions) {
    this.ticketKeys = options.ticketKeys;
    const { timeouts, limits } = options;
    this.tls = options.tls !== undefined;
    this.http2 = createGrpcServer(options.grpc, limits);
    this.http2.on('session', (session) => this.trackSession(session, timeouts.clientKeepAliveMs));
    const targets = { http1: options.http1, http2: this.http2 };
    // A TLS client that never finishes its handshake is a slowloris too.
    this.listener = options.tls === undefined
      ? createPlainDispatcher(targets, timeouts.clientHeadersMs)
      : createTlsDispatcher({ ...tlsOptions(options.tls, options.ticketKeys), handshakeTimeout: timeouts.clientHeadersMs }, targets);
    this.listener.prependListener('connection', options.accepted);
    // node:http starts its request and headers timers (and the list of
    // connections closeIdleConnections reads) when its server starts
    // listening; this one never listens itself.
    options.http1.emit('listening');
  }

  /** Listens; resolves with the URL clients use (the scheme says whether TLS is on). */
  listen(address: ListenAddress): Promise<string> {
    return new Promise((resolve, reject) => {
      this.listener.once('error', reject);
      this.listener.listen(address.port, address.host, () => {
        this.listener.off('error', reject);
        const { port } = this.listener.address() as AddressInfo;
        const host = address.host.includes(':') ? `[${address.host}]` : address.host;
        resolve(`${this.tls ? 'https' : 'http'}://${host}:${port}`);
      });
    });
  }

  /** A new certificate for connections from now on (SIGHUP); open ones keep theirs. */
  setCertificate(tls: TlsMaterial): void {
    if ('setSecureContext' in this.listener) this.listener.setSecureContext(tlsOptions(tls, this.ticketKeys));
  }

  /** Stops accepting; resolves once every connection, of either protocol, has closed. */
  stopAccepting(): Promise<void> {
    return new Promise((resolve) => this.listener.close(() => resolve()));
  }

  /** GOAWAY on every HTTP/2 connection: calls under way finish, no new one starts. */
  closeSessions(): void {
    for (const session of this.sessions) session.close();
  }

  /** Ends every HTTP/2 connection now (the shutdown grace is over). */
  destroySessions(): void {
    for (const session of this.sessions) session.destroy();
  }

  /**
   * An HTTP/2 connection with no call open for `idleMs` is closed with a
   * GOAWAY, as HTTP/1.1 keep-alive connections are: gRPC clients connect
   * again for their next call. One with a watch open is never idle.
   */
  private trackSession(session: ServerHttp2Session, idleMs: number): void {
    this.sessions.add(session);
    let open = 0;
    let timer: NodeJS.Timeout | undefined;
    const idle = (): void => {
      timer = setTimeout(() => session.close(), idleMs);
      timer.unref();
    };
    idle();
    session.on('stream', (stream) => {
      open += 1;
      clearTimeout(timer);
      stream.once('close', () => {
        open -= 1;
        if (open === 0 && !session.closed) idle();
      });
    });
    session.on('error', () => undefined);
    session.once('close', () => {
      clearTimeout(timer);
      this.sessions.delete(session);
    });
  }
}
