// A proxy restart must look to every v3 client exactly like an etcd
// restart (as clients-restart.test.ts shows for v2). Each client watches
// twice: straight on an etcd that is restarted, and through the real proxy
// (its one TLS port, etcd advertising it) while the proxy is restarted
// (SIGTERM, then a new process on the same port). What each one then
// prints, raises or receives must be the same.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCertificates, type TestCertificates } from '../fixtures/certs.js';
import { startEtcd, type EtcdProcess } from '../fixtures/etcd.js';
import { startProxiedMember, type ProxiedMember } from '../fixtures/member.js';
import { python, rawEtcd, type RawEtcd } from '../fixtures/v3-clients.js';
import { shaLine } from '../fixtures/v3-proxy.js';

interface Target {
  readonly url: string;
  readonly caCert: string | undefined;
  /** Where writes go: etcd itself. */
  readonly etcdUrl: string;
  restart(): Promise<void>;
}

/** One watching client: started on a target, then what its user saw. */
interface Watching {
  /** The values of the events it received so far. */
  seen(): string[];
  outcome(): Promise<string>;
}

const key = '/conftool/restart';

async function etcdctlWatch(target: Target): Promise<Watching> {
  const flags = [`--endpoints=${target.url}`, ...(target.caCert === undefined ? [] : [`--cacert=${target.caCert}`])];
  const child = spawn('etcdctl', [...flags, 'watch', key], { env: { ...process.env, ETCDCTL_API: '3' } });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const values = (): string[] => out.split('\n').filter((_line, i, lines) => lines[i - 2] === 'PUT');
  return {
    seen: values,
    outcome: async () => {
      const running = child.exitCode === null;
      child.kill();
      return `events ${values().join(',')}; ${running ? 'still watching' : `exited ${String(child.exitCode)}`}`;
    },
  };
}

async function nodeWatch(target: Target): Promise<Watching> {
  const client = new Etcd3({ hosts: target.url, ...(target.caCert === undefined ? {} : { credentials: { rootCertificate: await readFile(target.caCert) } }) });
  const values: string[] = [];
  let disconnected = false;
  const watcher = await client.watch().key(key).create();
  watcher.on('put', (kv) => values.push(kv.value.toString()));
  watcher.on('disconnected', () => (disconnected = true));
  return {
    seen: () => values,
    outcome: async () => {
      await watcher.cancel();
      client.close();
      return `events ${values.join(',')}; ${disconnected ? 'disconnected and watched again' : 'never disconnected'}`;
    },
  };
}

async function pythonWatch(target: Target): Promise<Watching> {
  const { port } = new URL(target.url);
  const tls = target.caCert === undefined ? '' : `, ca_cert='${target.caCert}'`;
  let printed = '';
  const finished = python(`
import etcd3
c = etcd3.client(host='127.0.0.1', port=${port}${tls})
events, cancel = c.watch('${key}')
try:
    for e in events:
        print('event', e.value.decode(), flush=True)
except Exception as error:
    print('raised', type(error).__name__, flush=True)
`, {}, (chunk) => (printed += chunk));
  return {
    seen: () => printed.split('\n').filter((line) => line.startsWith('event ')).map((line) => line.slice('event '.length)),
    outcome: async () => (await finished).stdout.trim().split('\n').join('; '),
  };
}

async function rawWatch(target: Target): Promise<Watching> {
  const client: RawEtcd = await rawEtcd({ url: target.url, ...(target.caCert === undefined ? {} : { caCert: target.caCert }) });
  const stream = client.stream('Watch', 'Watch');
  const values: string[] = [];
  let code: number | undefined;
  stream.on('data', (response: { events?: { kv: { value: Buffer } }[] }) => values.push(...(response.events ?? []).map((event) => event.kv.value.toString())));
  stream.on('error', (error: { code?: number }) => (code = error.code));
  stream.write({ create_request: { key: Buffer.from(key) } });
  return {
    seen: () => values,
    outcome: async () => {
      client.close();
      return `events ${values.join(',')}; stream ended with code ${String(code)}`;
    },
  };
}

const clients = { 'etcdctl watch': etcdctlWatch, 'Node etcd3 watcher': nodeWatch, 'python-etcd3 watch': pythonWatch, 'grpc-js Watch stream': rawWatch };

async function until(condition: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Every client watches, sees a write, lives through the restart, and then a second write is made. */
async function outcomes(target: Target): Promise<Record<string, string>> {
  const watching = Object.fromEntries(await Promise.all(Object.entries(clients).map(async ([name, start]) => [name, await start(target)] as const)));
  const writer = async (value: string): Promise<void> => {
    const direct = await rawEtcd({ url: target.etcdUrl });
    await direct.unary('KV', 'Put', { key: Buffer.from(key), value: Buffer.from(value) });
    direct.close();
  };
  // The watches are registered once a first write reaches every client.
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  await writer('before');
  await until(() => Object.values(watching).every((client) => client.seen().includes('before')), 'every client to see the first write');
  await target.restart();
  await writer('after');
  // The clients that watch again get it; give them their backoff.
  const resumers = [watching['etcdctl watch'], watching['Node etcd3 watcher']];
  await until(() => resumers.every((client) => client?.seen().includes('after') === true), 'the clients that watch again to see the second write');
  return Object.fromEntries(await Promise.all(Object.entries(watching).map(async ([name, client]) => [name, await client.outcome()] as const)));
}

let etcd: EtcdProcess;
let member: ProxiedMember;
let certs: TestCertificates;

beforeAll(async () => {
  certs = await makeCertificates();
  [etcd, member] = await Promise.all([
    startEtcd('v3-restart-direct'),
    startProxiedMember('v3-restart-proxied', { tls: { cert: certs.serverCert, key: certs.serverKey }, htpasswd: [shaLine('root', 'rootpw')], config: { acls: { '/': ['root'] } } }),
  ]);
});
afterAll(async () => {
  await member?.stop();
  await etcd?.stop();
});

describe('SIGTERM ends v3 streams as a stopping etcd does', () => {
  it('every client sees the same through a proxy restart as through an etcd restart', async () => {
    const straight = await outcomes({ url: etcd.clientUrl, caCert: undefined, etcdUrl: etcd.clientUrl, restart: async () => {
      await etcd.pause();
      await etcd.resume();
    } });
    const proxied = await outcomes({ url: member.url, caCert: certs.caCert, etcdUrl: member.etcd.clientUrl, restart: async () => {
      await member.restartProxy();
    } });
    expect(straight).toEqual({
      'etcdctl watch': 'events before,after; still watching',
      'Node etcd3 watcher': 'events before,after; disconnected and watched again',
      'python-etcd3 watch': 'event before; raised ConnectionFailedError',
      'grpc-js Watch stream': 'events before; stream ended with code 14',
    });
    expect(proxied).toEqual(straight);
  });
});
