// Watches through the proxy: headers at registration, no timeout of ours
// cuts them, disconnects free the upstream side, reloads and shutdown.
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEtcd, type EtcdProcess } from '../fixtures/etcd.js';
import { form, rawRequest } from '../fixtures/http.js';
import { startProxy, type ProxyProcess } from '../fixtures/proxy.js';
import { establishedConnections } from '../fixtures/sockets.js';

let etcd: EtcdProcess;

beforeAll(async () => {
  etcd = await startEtcd();
});
afterAll(async () => {
  await etcd?.stop();
});

interface OpenWatch {
  readonly request: ClientRequest;
  readonly response: IncomingMessage;
  /** Resolves with the full body once etcd sends the event (or the proxy ends the watch). */
  readonly body: Promise<string>;
}

/** Opens a watch and resolves as soon as the response headers arrive. */
function openWatch(baseUrl: string, path: string): Promise<OpenWatch> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const request = httpRequest({ host: url.hostname, port: url.port, path, agent: false }, (response) => {
      const body = new Promise<string>((resolveBody, rejectBody) => {
        let text = '';
        response.on('data', (chunk: Buffer) => (text += chunk.toString()));
        response.on('end', () => resolveBody(text));
        response.on('error', rejectBody);
        response.on('aborted', () => rejectBody(new Error('watch response aborted')));
      });
      // Tests that hang up on purpose never read the body: mark it handled.
      body.catch(() => undefined);
      resolve({ request, response, body });
    });
    request.on('error', reject);
    request.end();
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function etcdWatchers(): Promise<number> {
  const metrics = (await rawRequest(etcd.clientUrl, '/metrics')).body;
  const line = metrics.split('\n').find((l) => l.startsWith('etcd_debugging_store_watchers '));
  return Number(line?.split(' ')[1]);
}

async function until(condition: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe('watches through the proxy', () => {
  let proxy: ProxyProcess;
  beforeAll(async () => {
    // Every finite timeout of ours shrunk to 1 s: a watch idling for 3 s proves none applies to it.
    proxy = await startProxy({
      upstream: etcd.clientUrl,
      config: {
        acls: { '/': [] },
        timeouts: { upstreamMs: 1000, clientRequestMs: 1000, clientHeadersMs: 1000, clientKeepAliveMs: 1000 },
      },
    });
  });
  afterAll(async () => {
    await proxy?.stop();
  });

  it('passes the watch headers on at registration, before any event', async () => {
    const watch = await openWatch(proxy.url, '/v2/keys/w/early?wait=true');
    expect(watch.response.statusCode).toBe(200);
    expect(watch.response.headers['x-etcd-index']).toMatch(/^\d+$/);
    await rawRequest(etcd.clientUrl, '/v2/keys/w/early', { method: 'PUT', body: form({ value: 'v' }) });
    expect(JSON.parse(await watch.body)).toMatchObject({ action: 'set', node: { key: '/w/early', value: 'v' } });
  });

  it('keeps an idle watch open past every configured timeout, then delivers the event', async () => {
    const watch = await openWatch(proxy.url, '/v2/keys/w/idle?wait=true');
    await sleep(3000);
    await rawRequest(etcd.clientUrl, '/v2/keys/w/idle', { method: 'PUT', body: form({ value: 'late' }) });
    expect(JSON.parse(await watch.body)).toMatchObject({ action: 'set', node: { value: 'late' } });
  });

  it('streams several events on one stream=true watch', async () => {
    const watch = await openWatch(proxy.url, '/v2/keys/s?wait=true&recursive=true&stream=true');
    const events: string[] = [];
    watch.response.on('data', (chunk: Buffer) => events.push(chunk.toString()));
    for (const n of [1, 2, 3]) await rawRequest(etcd.clientUrl, `/v2/keys/s/k${n}`, { method: 'PUT', body: form({ value: String(n) }) });
    await until(async () => events.join('').split('\n').filter((l) => l.trim() !== '').length >= 3, 'three streamed events');
    watch.request.destroy();
  });

  it('frees the upstream watcher when 120 clients go away', async () => {
    // Earlier tests' watches are gone (their clients hung up) before this one counts.
    await until(async () => (await etcdWatchers()) === 0, 'no watchers left from earlier tests');
    const watches = await Promise.all(Array.from({ length: 120 }, (_, i) => openWatch(proxy.url, `/v2/keys/many/${i}?wait=true`)));
    await until(async () => (await etcdWatchers()) === 120, '120 watchers registered in etcd');
    for (const watch of watches) watch.request.destroy();
    await until(async () => (await etcdWatchers()) === 0, 'every upstream watcher freed');
    const metrics = (await rawRequest(proxy.metricsUrl, '/metrics')).body;
    expect(metrics).toMatch(/^etcd_warden_open_watches 0$/m);
  });

  it('closes the upstream socket of each of 200 dropped watches within one second', async () => {
    const pid = proxy.child.pid ?? 0;
    const before = await establishedConnections(pid, etcd.clientPort);
    const watches = await Promise.all(Array.from({ length: 200 }, (_, i) => openWatch(proxy.url, `/v2/keys/dropped/${i}?wait=true`)));
    // Not before + 200: an idle keep-alive socket counted in `before` may close meanwhile.
    expect(await establishedConnections(pid, etcd.clientPort)).toBeGreaterThanOrEqual(200);
    const dropped = Date.now();
    for (const watch of watches) watch.request.destroy();
    // Ordinary requests' keep-alive sockets may come and go; none of the 200 may stay.
    await until(async () => (await establishedConnections(pid, etcd.clientPort)) <= before, 'the 200 upstream sockets closed', 1000);
    console.log(`200 dropped watches: upstream sockets closed after ${Date.now() - dropped} ms`);
  });

  it('serves ordinary requests while 150 watches are open (no 128-socket starvation)', async () => {
    const watches = await Promise.all(Array.from({ length: 150 }, (_, i) => openWatch(proxy.url, `/v2/keys/starve/${i}?wait=true`)));
    const write = await rawRequest(proxy.url, '/v2/keys/starve/w', { method: 'PUT', body: form({ value: 'through' }), timeoutMs: 5000 });
    expect(write.status).toBe(201);
    for (const watch of watches) watch.request.destroy();
  });
});

describe('reload and shutdown with watches open', () => {
  it('flips read-only on SIGHUP while a watch stays open and still gets its event', async () => {
    const proxy = await startProxy({ upstream: etcd.clientUrl, config: { acls: { '/': [] } } });
    try {
      const watch = await openWatch(proxy.url, '/v2/keys/hup/k?wait=true');
      await proxy.writeConfig({ acls: { '/': [] }, readOnly: true });
      const mark = proxy.logs().length;
      proxy.signal('SIGHUP');
      await proxy.waitForLog((l) => l.msg === 'config reloaded', mark);
      const refused = await rawRequest(proxy.url, '/v2/keys/hup/other', { method: 'PUT', body: form({ value: 'x' }) });
      expect(refused.status).toBe(403);
      expect(refused.body).toBe('{"errorCode":107,"message":"This cluster is in read-only mode","cause":"Cluster configured to be read-only","index":0}\n');
      await rawRequest(etcd.clientUrl, '/v2/keys/hup/k', { method: 'PUT', body: form({ value: 'after-reload' }) });
      expect(JSON.parse(await watch.body)).toMatchObject({ node: { value: 'after-reload' } });
      expect((await rawRequest(proxy.metricsUrl, '/metrics')).body).toMatch(/^etcd_warden_read_only 1$/m);
    } finally {
      await proxy.stop();
    }
  });

  it('refuses a broken config on SIGHUP, names the field, and keeps serving the old one', async () => {
    const proxy = await startProxy({ upstream: etcd.clientUrl, config: { acls: { '/open': [] } } });
    try {
      await proxy.writeConfig({ acls: { '/open': 'everyone' } });
      const mark = proxy.logs().length;
      proxy.signal('SIGHUP');
      const refused = await proxy.waitForLog((l) => l.msg === 'config reload refused; the previous config stays in force', mark);
      expect(JSON.stringify(refused.errors)).toContain('acls[\\"/open\\"]: must be a list of user names');
      expect((await rawRequest(proxy.url, '/v2/keys/open/k', { method: 'PUT', body: form({ value: 'x' }) })).status).toBe(201);
      expect((await rawRequest(proxy.metricsUrl, '/metrics')).body).toMatch(/^etcd_warden_config_reloads_total\{result="failure"\} 1$/m);
    } finally {
      await proxy.stop();
    }
  });

  it('cuts every kind of open watch mid-response on SIGTERM, as a stopping etcd does, and exits 0 at once', async () => {
    // A grace period longer than the test: a watch left open would hang the stop.
    const proxy = await startProxy({ upstream: etcd.clientUrl, config: { acls: { '/': [] }, timeouts: { shutdownGraceMs: 120_000 } } });
    const watches = await Promise.all([
      openWatch(proxy.url, '/v2/keys/term/1?wait=true'),
      openWatch(proxy.url, '/v2/keys/term?wait=true&recursive=true'),
      openWatch(proxy.url, '/v2/keys/term?wait=true&recursive=true&stream=true'),
    ]);
    const streamed: string[] = [];
    watches[2]?.response.on('data', (chunk: Buffer) => streamed.push(chunk.toString()));
    await rawRequest(etcd.clientUrl, '/v2/keys/term/2', { method: 'PUT', body: form({ value: 'streamed' }) });
    await until(async () => streamed.join('').includes('streamed'), 'the stream to deliver one event');
    expect(JSON.parse(await (watches[1]?.body ?? Promise.resolve('')))).toMatchObject({ node: { key: '/term/2' } });
    const open = [watches[0], watches[2]];
    const code = await proxy.stop();
    expect(code).toBe(0);
    // Cut without the final chunk: clients see a broken transfer, never a complete empty answer.
    for (const watch of open) await expect(watch?.body).rejects.toThrow(/aborted/);
    expect(proxy.logs().filter((line) => String(line.msg).startsWith('requests still running'))).toEqual([]);
    expect(proxy.logs().filter((line) => line.reason === 'watch cut by shutdown, as a stopping etcd cuts it')).toHaveLength(2);
  });
});

describe('clients that leave before etcd answers', () => {
  it('frees the upstream request and keeps serving when 20 clients hang up while etcd is frozen', async () => {
    const own = await startEtcd('frozen');
    const proxy = await startProxy({ upstream: own.clientUrl, config: { acls: { '/': [] } } });
    try {
      own.freeze();
      const url = new URL(proxy.url);
      const leavers = Array.from({ length: 20 }, (_, i) => {
        const request = httpRequest({ host: url.hostname, port: url.port, path: `/v2/keys/leave/${i}`, method: i % 2 === 0 ? 'GET' : 'DELETE', agent: false });
        request.on('error', () => undefined);
        request.end();
        return request;
      });
      await sleep(300);
      for (const request of leavers) request.destroy();
      await sleep(100);
      own.thaw();
      const after = await rawRequest(proxy.url, '/v2/keys/leave/after', { method: 'PUT', body: form({ value: 'still serving' }) });
      expect(after.status).toBe(201);
      expect(proxy.child.exitCode).toBeNull();
    } finally {
      own.thaw();
      await proxy.stop();
      await own.stop();
    }
  });
});

describe('etcd down and back', () => {
  it('answers a fast etcd-style 502 while etcd is down, naming no internal address, and recovers when it returns', async () => {
    const own = await startEtcd('down-and-up');
    const proxy = await startProxy({ upstream: own.clientUrl, config: { acls: { '/': [] } } });
    try {
      await own.pause();
      const down = await rawRequest(proxy.url, '/v2/keys/x');
      expect(down.status).toBe(502);
      expect(JSON.parse(down.body)).toEqual({ errorCode: 300, message: 'etcd member unavailable', cause: 'etcd member unavailable', index: 0 });
      // The details are for the operator, in the access log, not for anonymous clients.
      expect(down.body).not.toContain(String(own.clientPort));
      expect(down.body).not.toMatch(/ECONNREFUSED|127\.0\.0\.1/);
      const logged = await proxy.waitForLog((line) => line.status === 502);
      expect(String(logged.reason)).toContain(`${own.clientUrl}: connect ECONNREFUSED`);
      await own.resume();
      const up = await rawRequest(proxy.url, '/v2/keys/x', { method: 'PUT', body: form({ value: 'back' }) });
      expect(up.status).toBe(201);
      expect((await rawRequest(proxy.metricsUrl, '/metrics')).body).toMatch(/^etcd_warden_upstream_errors_total\{kind="unreachable"\} [1-9]/m);
    } finally {
      await proxy.stop();
      await own.stop();
    }
  });
});
