// Running v3 through the real proxy as an operator does: SIGHUP reloads
// without ending a v3 watch, tokens outlive a reload but not a password
// change, and /clients and /metrics show v3 calls beside v2 requests.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { request } from 'node:https';
import { Etcd3 } from 'etcd3';
import { describe, expect, it } from 'vitest';
import { b64, basic, etcdctl, gatewayPost, grpcCode, rawEtcd, tokenFor } from '../fixtures/v3-clients.js';
import { useV3ProxiedEtcd } from '../fixtures/v3-proxied-etcd.js';

const acls = { '/': ['root'], '/conftool': ['root', 'conftool'] };
const users = { root: 'rootpw', conftool: 'confpw' };
const v3 = useV3ProxiedEtcd('v3-operations', { acls, users });

const endpoint = (): { url: string; caCert: string } => ({ url: v3.proxy.url, caCert: v3.proxy.certs.caCert });
const put = (key: string, value: string): Promise<Record<string, unknown>> => v3.direct.unary('KV', 'Put', { key: Buffer.from(key), value: Buffer.from(value) });

async function until<T>(read: () => Promise<T> | T, ok: (value: T) => boolean, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last seen: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('SIGHUP', () => {
  it('ends no v3 watch: a raw gRPC stream, etcdctl watch and the Node client each get the next event after a reload', async () => {
    const raw = await rawEtcd(endpoint());
    const stream = raw.stream('Watch', 'Watch');
    const rawValues: string[] = [];
    let rawEnded = false;
    stream.on('data', (response: { events?: { kv: { value: Buffer } }[] }) => rawValues.push(...(response.events ?? []).map((event) => event.kv.value.toString())));
    stream.on('error', () => (rawEnded = true));
    stream.write({ create_request: { key: Buffer.from('/conftool/hup') } });
    const ctl = spawn('etcdctl', [`--endpoints=${v3.proxy.url}`, `--cacert=${v3.proxy.certs.caCert}`, 'watch', '/conftool/hup'], { env: { ...process.env, ETCDCTL_API: '3' } });
    let ctlOut = '';
    ctl.stdout.on('data', (chunk: Buffer) => (ctlOut += chunk.toString()));
    const node = new Etcd3({ hosts: v3.proxy.url, credentials: { rootCertificate: await readFile(v3.proxy.certs.caCert) }, auth: { username: 'conftool', password: 'confpw' } });
    const nodeValues: string[] = [];
    const watcher = await node.watch().key('/conftool/hup').create();
    watcher.on('put', (kv) => nodeValues.push(kv.value.toString()));
    try {
      await put('/conftool/hup', 'before');
      await until(() => [rawValues, nodeValues, ctlOut], () => rawValues.includes('before') && nodeValues.includes('before') && ctlOut.includes('before'), 'the first event everywhere');
      // A real change: a new rule, so the reload compiles a new runtime.
      await v3.proxy.reconfigure({ acls: { ...acls, '/other': ['root'] } });
      await put('/conftool/hup', 'after the reload');
      await until(() => [rawValues, nodeValues, ctlOut], () => rawValues.includes('after the reload') && nodeValues.includes('after the reload') && ctlOut.includes('after the reload'), 'the event after the reload');
      expect(rawEnded).toBe(false);
      expect(ctl.exitCode).toBe(null);
    } finally {
      ctl.kill();
      stream.cancel();
      raw.close();
      await watcher.cancel();
      node.close();
      await v3.proxy.reconfigure({ acls });
    }
  });

  it('decides each keep-alive on an open stream by the rules in force when it arrives: refused once the key is no longer the user\'s', async () => {
    const client = await rawEtcd(endpoint(), await tokenFor(endpoint(), 'conftool', 'confpw'));
    const granted = await client.unary('Lease', 'LeaseGrant', { TTL: '600' });
    await client.unary('KV', 'Put', { key: Buffer.from('/conftool/leased'), value: Buffer.from('x'), lease: granted.ID });
    const stream = client.stream('Lease', 'LeaseKeepAlive');
    const ended = new Promise<{ code?: number; details?: string }>((resolve) => stream.on('error', resolve));
    const answered = (): Promise<unknown> => new Promise((resolve) => stream.once('data', resolve));
    try {
      const answer = answered();
      stream.write({ ID: granted.ID });
      expect(await answer).toMatchObject({ ID: granted.ID });
      await v3.proxy.reconfigure({ acls: { '/': ['root'], '/conftool': ['root'] } });
      stream.write({ ID: granted.ID });
      expect(await ended).toMatchObject({ code: 7, details: 'etcdserver: permission denied' });
    } finally {
      stream.cancel();
      client.close();
      await v3.proxy.reconfigure({ acls });
    }
  });

  it('keeps tokens valid across a reload, and ends them when the user\'s password changes', async () => {
    const token = await tokenFor(endpoint(), 'conftool', 'confpw');
    const client = await rawEtcd(endpoint(), token);
    try {
      await client.unary('KV', 'Put', { key: Buffer.from('/conftool/token'), value: Buffer.from('before') });
      await v3.proxy.reconfigure({ acls: { ...acls, '/other': ['root'] } });
      await client.unary('KV', 'Put', { key: Buffer.from('/conftool/token'), value: Buffer.from('after a reload') });
      await v3.proxy.reconfigure({ acls }, { ...users, conftool: 'a new password' });
      await expect(client.unary('KV', 'Put', { key: Buffer.from('/conftool/token'), value: Buffer.from('after a password change') })).rejects.toMatchObject({
        code: 16,
        details: 'etcdserver: invalid auth token',
      });
    } finally {
      client.close();
      await v3.proxy.reconfigure({ acls }, users);
    }
    const stored = await v3.direct.unary('KV', 'Range', { key: Buffer.from('/conftool/token') });
    expect((stored.kvs as { value: Buffer }[])[0]?.value.toString()).toBe('after a reload');
  });
});

describe('/clients and /metrics', () => {
  interface ClientsAnswer {
    requests: { method: string; key: string; user: string | null; watch: boolean }[];
  }
  const clients = async (): Promise<ClientsAnswer> => (await (await fetch(`${v3.proxy.process.metricsUrl}/clients`)).json()) as ClientsAnswer;
  const metrics = async (): Promise<string> => (await fetch(`${v3.proxy.process.metricsUrl}/metrics`)).text();

  it('/clients lists open v3 watches, gRPC and gateway, with their user and key, until they end', async () => {
    const client = await rawEtcd(endpoint(), await tokenFor(endpoint(), 'conftool', 'confpw'));
    const stream = client.stream('Watch', 'Watch');
    stream.on('error', () => undefined);
    const created = new Promise((resolve) => stream.once('data', resolve));
    stream.write({ create_request: { key: Buffer.from('/conftool/listed') } });
    await created;
    const gateway = request(new URL('/v3/watch', v3.proxy.url), { method: 'POST', ca: await readFile(v3.proxy.certs.caCert), headers: basic('conftool', 'confpw'), agent: false });
    gateway.on('error', () => undefined);
    gateway.end(JSON.stringify({ create_request: { key: b64('/conftool/gw-listed') } }));
    const listed = await until(clients, (answer) => answer.requests.filter((entry) => entry.watch).length === 2, 'two watches in /clients');
    expect(listed.requests).toEqual(expect.arrayContaining([
      expect.objectContaining({ method: 'Watch/Watch', key: '/conftool/listed', user: 'conftool', watch: true }),
      expect.objectContaining({ method: 'Watch/Watch', key: '/conftool/gw-listed', user: 'conftool', watch: true }),
    ]));
    expect(await metrics()).toMatch(/^etcd_warden_open_watches 2$/m);
    stream.cancel();
    client.close();
    gateway.destroy();
    await until(clients, (answer) => answer.requests.length === 0, 'both watches to leave /clients');
    expect(await metrics()).toMatch(/^etcd_warden_open_watches 0$/m);
  });

  it('/metrics counts v3 calls by gRPC method, status and decision, and v3 auth failures', async () => {
    await etcdctl(endpoint(), ['put', '/conftool/metrics', 'x'], { user: 'conftool:confpw' });
    await etcdctl(endpoint(), ['put', '/elsewhere', 'x'], { user: 'conftool:confpw' });
    await etcdctl(endpoint(), ['get', '/conftool/metrics'], { user: 'conftool:wrong' });
    await gatewayPost(endpoint(), '/v3/kv/put', JSON.stringify({ key: b64('/elsewhere'), value: b64('x') }));
    const text = await metrics();
    expect(text).toMatch(/^etcd_warden_requests_total\{method="KV\/Put",status="OK",decision="allowed"\} [1-9]/m);
    expect(text).toMatch(/^etcd_warden_requests_total\{method="KV\/Put",status="PERMISSION_DENIED",decision="denied-acl"\} [1-9]/m);
    expect(text).toMatch(/^etcd_warden_requests_total\{method="Auth\/Authenticate",status="INVALID_ARGUMENT",decision="denied-auth"\} [1-9]/m);
    expect(text).toMatch(/^etcd_warden_requests_total\{method="KV\/Put",status="403",decision="denied-acl"\} [1-9]/m);
    expect(text).toMatch(/^etcd_warden_auth_failures_total\{reason="bad-credentials"\} [1-9]/m);
    expect(text).toMatch(/^etcd_warden_request_duration_seconds_count\{method="KV\/Put",kind="ordinary"\} [1-9]/m);
  });

  it('counts an unreachable etcd as an upstream error, and answers UNAVAILABLE', async () => {
    await v3.etcd.pause();
    try {
      const client = await rawEtcd(endpoint());
      const failure = await client.unary('KV', 'Range', { key: Buffer.from('/conftool/x') }).catch((error: unknown) => error);
      client.close();
      expect(grpcCode(failure)).toBe(14);
    } finally {
      await v3.etcd.resume();
    }
    expect(await metrics()).toMatch(/^etcd_warden_upstream_errors_total\{kind="unreachable"\} [1-9]/m);
  });
});
