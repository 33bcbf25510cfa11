// A small gRPC load driver for the v3 bench (grpc-js, the Node client's own
// transport): many unary calls in flight over a few connections for a fixed
// time, each call's latency kept; and v3 watches opened in bulk, each
// connection carrying many streams as etcd's clients multiplex them.
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { etcdProtoDirectory, etcdRpcProtoFile } from '../../../mirror/etcd/v3/proto.js';

type Callback = (error: grpc.ServiceError | null, response: Record<string, unknown>) => void;
type Unary = (request: Record<string, unknown>, metadata: grpc.Metadata, callback: Callback) => void;
type Duplex = grpc.ClientDuplexStream<Record<string, unknown>, Record<string, unknown>>;

export interface V3Target {
  /** http://… (etcd) or https://… (the proxy, with its certificate as the trusted root). */
  readonly url: string;
  readonly rootCertificate?: Buffer;
}

export interface UnaryLoad {
  readonly service: 'KV';
  readonly method: 'Range' | 'Put';
  /** The request of call number i. */
  readonly request: (i: number) => Record<string, unknown>;
  readonly token?: string;
}

export interface LoadShape {
  readonly connections: number;
  /** Calls in flight at any time, spread over the connections. */
  readonly concurrency: number;
  readonly seconds: number;
}

export interface LoadResult {
  readonly calls: number;
  readonly errors: number;
  readonly callsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly firstError: string | undefined;
}

let services: grpc.GrpcObject | undefined;

function etcdServices(): grpc.GrpcObject {
  if (services !== undefined) return services;
  const definition = protoLoader.loadSync(etcdRpcProtoFile(), { keepCase: true, longs: String, enums: Number, defaults: true, oneofs: true, includeDirs: [etcdProtoDirectory()] });
  services = grpc.loadPackageDefinition(definition).etcdserverpb as grpc.GrpcObject;
  return services;
}

/** One client = one HTTP/2 connection (grpc-js would otherwise share one connection between clients of a target). */
export function v3Client(target: V3Target, service: string): grpc.Client {
  const Constructor = etcdServices()[service] as grpc.ServiceClientConstructor;
  const credentials = target.rootCertificate === undefined ? grpc.credentials.createInsecure() : grpc.credentials.createSsl(target.rootCertificate);
  return new Constructor(target.url.replace(/^https?:\/\//, ''), credentials, { 'grpc.use_local_subchannel_pool': 1, 'grpc.max_receive_message_length': -1 });
}

function call(client: grpc.Client, method: string, request: Record<string, unknown>, metadata: grpc.Metadata): Promise<Record<string, unknown>> {
  const unary = (client as unknown as Record<string, Unary>)[method];
  if (unary === undefined) throw new Error(`no method ${method}`);
  return new Promise((resolve, reject) => unary.call(client, request, metadata, (error, response) => (error === null ? resolve(response) : reject(error))));
}

/** A token from Auth.Authenticate (the proxy answers it itself). */
export async function authenticate(target: V3Target, name: string, password: string): Promise<string> {
  const client = v3Client(target, 'Auth');
  try {
    const response = await call(client, 'Authenticate', { name, password }, new grpc.Metadata());
    if (typeof response.token !== 'string') throw new Error('Authenticate gave no token');
    return response.token;
  } finally {
    client.close();
  }
}

function percentile(sorted: readonly number[], fraction: number): number {
  return sorted.length === 0 ? Number.NaN : (sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))] ?? Number.NaN);
}

/** Keeps `concurrency` calls in flight for `seconds`; every call's latency counts. */
export async function runUnaryLoad(target: V3Target, load: UnaryLoad, shape: LoadShape): Promise<LoadResult> {
  const clients = Array.from({ length: shape.connections }, () => v3Client(target, load.service));
  const metadata = new grpc.Metadata();
  if (load.token !== undefined) metadata.set('token', load.token);
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let next = 0;
  const started = performance.now();
  const deadline = started + shape.seconds * 1000;
  const worker = async (index: number): Promise<void> => {
    const client = clients[index % clients.length];
    if (client === undefined) return;
    while (performance.now() < deadline) {
      const sent = performance.now();
      try {
        await call(client, load.method, load.request(next++), metadata);
        latencies.push(performance.now() - sent);
      } catch (error) {
        errors += 1;
        firstError ??= (error as Error).message;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: shape.concurrency }, (_unused, i) => worker(i)));
  } finally {
    for (const client of clients) client.close();
  }
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { calls: latencies.length, errors, callsPerSecond: latencies.length / elapsed, p50Ms: percentile(latencies, 0.5), p99Ms: percentile(latencies, 0.99), firstError };
}

export interface OpenWatches {
  /** Resolves with the time from `since` until every watch had the next event on the key. */
  fanOut(since: number): Promise<number | undefined>;
  close(): void;
}

/** Opens `count` watches on `key`, `perConnection` streams on each connection; resolves once etcd confirmed them all. */
export async function openV3Watches(target: V3Target, key: string, count: number, perConnection: number): Promise<OpenWatches> {
  const clients: grpc.Client[] = [];
  const streams: Duplex[] = [];
  const delivered: (number | undefined)[] = [];
  const created: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    if (i % perConnection === 0) clients.push(v3Client(target, 'Watch'));
    const client = clients[clients.length - 1] as unknown as Record<string, (metadata: grpc.Metadata) => Duplex>;
    const open = client.Watch;
    if (open === undefined) throw new Error('no Watch');
    const stream = open.call(client, new grpc.Metadata());
    stream.on('error', () => undefined);
    created.push(new Promise((resolve) => {
      stream.on('data', (response: { created?: boolean; events?: unknown[] }) => {
        if (response.created === true) resolve();
        if ((response.events?.length ?? 0) > 0) delivered[i] ??= performance.now();
      });
    }));
    stream.write({ create_request: { key: Buffer.from(key) } });
    streams.push(stream);
  }
  await Promise.all(created);
  return {
    async fanOut(since) {
      const deadline = performance.now() + 10_000;
      while (performance.now() < deadline) {
        if (delivered.filter((at) => at !== undefined).length === count) return Math.max(...delivered.map((at) => at ?? 0)) - since;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      return undefined;
    },
    close() {
      for (const stream of streams) stream.cancel();
      for (const client of clients) client.close();
    },
  };
}
