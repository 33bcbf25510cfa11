// The v3 API inside the proxy, built once per process: one TokenIssuer (a
// token lives across reloads while its user's htpasswd line is unchanged),
// the gRPC proxy for the port's HTTP/2 side, the JSON gateway for its
// HTTP/1.1 side, and the report of their calls (access log, metrics,
// /clients). Every call reads the runtime in force when it starts, every
// stream message the one in force when it arrives.
import type { ServerHttp2Stream } from 'node:http2';
import type { Logger } from 'pino';
import type { EtcdGrpcError } from '../../mirror/etcd/v3/errors.js';
import type { FailedLoginLimit } from '../auth/failure-limiter.js';
import type { CredentialVerifier } from '../auth/verifier.js';
import type { ClientRegistry } from '../clients.js';
import type { ProxyMetrics } from '../metrics.js';
import type { Runtime } from '../runtime.js';
import { GatewayProxy } from './gateway-forward.js';
import { GrpcProxy } from './grpc-proxy.js';
import { V3CallReport } from './report.js';
import { TokenIssuer } from './token.js';

export interface V3ServiceDependencies {
  readonly runtime: () => Runtime;
  readonly verifier: CredentialVerifier;
  readonly limiter: FailedLoginLimit;
  readonly log: Logger;
  readonly metrics: ProxyMetrics;
  readonly clients: ClientRegistry;
  /** A refusal for every call on a connection (the connection cap). */
  readonly connectionRefusal: (stream: ServerHttp2Stream) => EtcdGrpcError | undefined;
  /** With several proxy processes: their one token secret, and where each token use is told (token.ts). */
  readonly tokens?: SharedTokens;
}

export interface SharedTokens {
  readonly secret: Buffer;
  readonly used: (nonce: string, at: number) => void;
}

export class V3Service {
  readonly grpc: GrpcProxy;
  readonly gateway: GatewayProxy;
  readonly calls: V3CallReport;
  readonly tokens: TokenIssuer;

  constructor(deps: V3ServiceDependencies) {
    const tokens = new TokenIssuer({
      currentHash: (user) => deps.runtime().users.get(user)?.hash,
      ttlMs: () => deps.runtime().v3Settings.tokenTtlMs,
      ...(deps.tokens === undefined ? {} : { secret: deps.tokens.secret, used: deps.tokens.used }),
    });
    this.tokens = tokens;
    const credentials = { verifier: deps.verifier, limiter: deps.limiter, tokens };
    this.calls = new V3CallReport({ log: deps.log, metrics: deps.metrics, clients: deps.clients });
    const runtime = (): Runtime['v3'] => deps.runtime().v3;
    this.grpc = new GrpcProxy({ runtime, credentials, observer: this.calls, connectionRefusal: deps.connectionRefusal });
    this.gateway = new GatewayProxy({ runtime, credentials, observer: this.calls });
  }

  /** At shutdown: every watch and keep-alive, gRPC or gateway, ends as a stopping etcd ends it. */
  cutStreams(reason: string): void {
    this.gateway.cutStreams(reason);
    this.grpc.cutStreams(reason);
  }
}
