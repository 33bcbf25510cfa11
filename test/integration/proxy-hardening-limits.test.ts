// Resource limits: what one client can make the proxy hold. Each test attacks
// one limit against a real etcd, checks the effect there, and prints the
// figure it reached.
import { readdirSync, readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEtcd, type EtcdProcess } from '../fixtures/etcd.js';
import { etcdKeys, form, rawRequest } from '../fixtures/http.js';
import { startProxy, type ProxyProcess } from '../fixtures/proxy.js';
import { requestBytes, sendRaw } from './proxy-hardening-wire.js';

let etcd: EtcdProcess;

beforeAll(async () => {
  etcd = await startEtcd('limits');
});

afterAll(async () => {
  await etcd?.stop();
});

const keys = (): Promise<Map<string, string>> => etcdKeys(etcd.clientUrl);
const sleep = (ms: number): Promise<void> => new Promise((wake) => setTimeout(wake, ms));

function rssBytes(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match?.[1] ?? 0) * 1024;
}

/** One entry per open descriptor in /proc/<pid>/fd. */
function listFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

function openSockets(url: string, count: number): Promise<Socket[]> {
  const { hostname, port } = new URL(url);
  const sockets: Socket[] = [];
  const one = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const socket = connect({ host: hostname, port: Number(port) }, () => resolve());
      socket.on('error', reject);
      sockets.push(socket);
    });
  return (async () => {
    for (let start = 0; start < count; start += 500) {
      await Promise.all(Array.from({ length: Math.min(500, count - start) }, one));
    }
    return sockets;
  })();
}

describe('header limits (defaults: 16 KiB, 100 fields)', () => {
  let proxy: ProxyProcess;
  beforeAll(async () => {
    proxy = await startProxy({ upstream: etcd.clientUrl, config: { acls: { '/open': [] } } });
  });
  afterAll(async () => {
    await proxy?.stop();
  });

  it('answers 431 with an etcd-style body to headers over 16 KiB, and nothing is written', async () => {
    const big = { 'X-Padding': 'p'.repeat(17 * 1024), Connection: 'close' };
    const exchange = await sendRaw(proxy.url, requestBytes('PUT', '/v2/keys/open/big-header', big, form({ value: 'x' })));
    expect(exchange.responses.map((r) => r.status)).toEqual([431]);
    expect(JSON.parse(exchange.responses[0]?.body ?? '{}')).toMatchObject({ message: 'Request Header Fields Too Large' });
    // Just under the limit still goes through.
    const fits = await sendRaw(proxy.url, requestBytes('PUT', '/v2/keys/open/fits', { 'X-Padding': 'p'.repeat(15 * 1024), Connection: 'close' }, form({ value: 'ok' })));
    expect(fits.responses.map((r) => r.status)).toEqual([201]);
    const after = await keys();
    expect(after.has('/open/big-header')).toBe(false);
    expect(after.get('/open/fits')).toBe('ok');
    console.log('limits: 17 KiB of headers -> 431, 15 KiB -> 201');
  });

  it('answers 431 to more than 100 header fields (Node would silently drop past 2,000), and nothing is written', async () => {
    const many = (n: number): Record<string, string> => Object.fromEntries([...Array.from({ length: n }, (_, i) => [`X-F${i}`, 'v']), ['Connection', 'close']]);
    // requestBytes adds Host, Content-Type and Content-Length: 97 + 3 + Connection = 101 fields.
    const over = await sendRaw(proxy.url, requestBytes('PUT', '/v2/keys/open/many-fields', many(97), form({ value: 'x' })));
    expect(over.responses.map((r) => r.status)).toEqual([431]);
    const under = await sendRaw(proxy.url, requestBytes('PUT', '/v2/keys/open/few-fields', many(96), form({ value: 'ok' })));
    expect(under.responses.map((r) => r.status)).toEqual([201]);
    const after = await keys();
    expect(after.has('/open/many-fields')).toBe(false);
    expect(after.get('/open/few-fields')).toBe('ok');
    console.log('limits: 101 header fields -> 431, 100 -> 201');
  });
});

describe('slow clients (clientHeadersMs 1000, clientRequestMs 2000)', () => {
  let proxy: ProxyProcess;
  beforeAll(async () => {
    proxy = await startProxy({ upstream: etcd.clientUrl, config: { acls: { '/open': [] }, timeouts: { clientHeadersMs: 1000, clientRequestMs: 2000 } } });
  });
  afterAll(async () => {
    await proxy?.stop();
  });

  it('cuts a client dribbling headers and one dribbling its body, while an established watch lives on', async () => {
    const watch = rawRequest(proxy.url, '/v2/keys/open/watched?wait=true', { timeoutMs: 60_000 });
    // One header byte every 200 ms, for up to 20 s: a slowloris.
    const header = `GET /v2/keys/open/x HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ${'s'.repeat(100)}\r\n\r\n`;
    const slowHeaders = await sendRaw(proxy.url, '', { pieces: [...header], pauseMs: 200, timeoutMs: 20_000 });
    expect(slowHeaders.closedByServer).toBe(true);
    expect(slowHeaders.responses.map((r) => r.status)).toEqual([408]);

    // A complete header, then one body byte every 200 ms: cut, and etcd never sees a finished write.
    const head = `PUT /v2/keys/open/slow-body HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n`;
    const slowBody = await sendRaw(proxy.url, '', { pieces: [head, ...'value=' + 'b'.repeat(94)], pauseMs: 200, timeoutMs: 25_000 });
    expect(slowBody.closedByServer).toBe(true);
    expect(slowBody.responses.map((r) => r.status)).toEqual([408]);
    expect((await keys()).has('/open/slow-body')).toBe(false);

    // The watch has now been open longer than both timeouts, and still delivers.
    await rawRequest(etcd.clientUrl, '/v2/keys/open/watched', { method: 'PUT', body: form({ value: 'event' }) });
    const delivered = await watch;
    expect(delivered.status).toBe(200);
    expect(JSON.parse(delivered.body)).toMatchObject({ action: 'set', node: { value: 'event' } });
  });
});

describe('connection cap (limits.maxConnections 5)', () => {
  let proxy: ProxyProcess;
  beforeAll(async () => {
    proxy = await startProxy({ upstream: etcd.clientUrl, config: { acls: { '/open': [] }, limits: { maxConnections: 5 } } });
  });
  afterAll(async () => {
    await proxy?.stop();
  });

  it('answers the connection over the cap 503 etcd-style and closes it; a watch counts; a freed slot is usable again', async () => {
    const watch = rawRequest(proxy.url, '/v2/keys/open/cap-watch?wait=true', { timeoutMs: 60_000 });
    const idle = await openSockets(proxy.url, 4);
    await sleep(300); // let the proxy accept all five before the sixth arrives

    const refused = await sendRaw(proxy.url, requestBytes('PUT', '/v2/keys/open/over-cap', {}, form({ value: 'x' })));
    expect(refused.responses.map((r) => r.status)).toEqual([503]);
    expect(refused.responses[0]?.headers['retry-after']).toBe('1');
    expect(JSON.parse(refused.responses[0]?.body ?? '{}')).toMatchObject({ errorCode: 300, message: 'Too many connections' });
    expect(refused.closedByServer).toBe(true);
    expect((await keys()).has('/open/over-cap')).toBe(false);

    // One that connects over the cap and says nothing is closed too (after 2 s).
    const silent = await sendRaw(proxy.url, '', { timeoutMs: 10_000 });
    expect(silent.closedByServer).toBe(true);

    idle[0]?.destroy();
    await sleep(300);
    const admitted = await sendRaw(proxy.url, requestBytes('PUT', '/v2/keys/open/after-cap', { Connection: 'close' }, form({ value: 'ok' })));
    expect(admitted.responses.map((r) => r.status)).toEqual([201]);
    expect((await keys()).get('/open/after-cap')).toBe('ok');

    await rawRequest(etcd.clientUrl, '/v2/keys/open/cap-watch', { method: 'PUT', body: form({ value: 'still here' }) });
    expect((await watch).status).toBe(200);
    for (const socket of idle) socket.destroy();
  });
});

describe('10,000 idle connections', () => {
  let proxy: ProxyProcess;
  beforeAll(async () => {
    proxy = await startProxy({ upstream: etcd.clientUrl, config: { acls: { '/open': [] }, limits: { maxConnections: 12_000 } } });
  });
  afterAll(async () => {
    await proxy?.stop();
  });

  it('holds them in bounded memory and keeps serving', async () => {
    // Both ends live on this machine: this process needs a descriptor per
    // connection, the proxy another. Use what the limit allows, up to 10,000.
    const softLimit = Number(/Max open files\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1] ?? 1024);
    const count = Math.min(10_000, softLimit - 500);
    expect(count).toBeGreaterThan(1000);
    const pid = proxy.child.pid ?? 0;
    await rawRequest(proxy.url, '/version');
    const rssBefore = rssBytes(pid);
    const fdsBefore = listFds(pid);
    const sockets = await openSockets(proxy.url, count);
    await sleep(500);
    const rssHeld = rssBytes(pid);
    const fdsHeld = listFds(pid);
    // Still serving, reads and writes, with all of them open.
    expect((await rawRequest(proxy.url, '/version')).status).toBe(200);
    expect((await rawRequest(proxy.url, '/v2/keys/open/under-load', { method: 'PUT', body: form({ value: 'ok' }) })).status).toBe(201);
    expect((await keys()).get('/open/under-load')).toBe('ok');
    for (const socket of sockets) socket.destroy();
    await sleep(1000);
    const fdsAfter = listFds(pid);
    const perConnection = (rssHeld - rssBefore) / count;
    console.log(
      `limits: ${count} idle connections: proxy RSS ${(rssBefore / 2 ** 20).toFixed(1)} -> ${(rssHeld / 2 ** 20).toFixed(1)} MiB ` +
        `(${(perConnection / 1024).toFixed(1)} KiB each), fds ${fdsBefore} -> ${fdsHeld} -> ${fdsAfter} after closing`,
    );
    // Give or take the few upstream keep-alive sockets that come and go.
    expect(fdsHeld - fdsBefore).toBeGreaterThanOrEqual(count - 10);
    expect(rssHeld - rssBefore).toBeLessThan(count * 16 * 1024);
    expect(fdsAfter).toBeLessThan(fdsBefore + 20);
  }, 120_000);
});

