// What a client sees from the proxy's decisions, checked in etcd itself.
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEtcd, type EtcdProcess } from '../fixtures/etcd.js';
import { etcdKeys, form, rawRequest } from '../fixtures/http.js';
import { basicAuth, htpasswdLine, startProxy, type ProxyProcess } from '../fixtures/proxy.js';

let etcd: EtcdProcess;
let proxy: ProxyProcess;

const root = basicAuth('root', 'root-secret');
const conftool = basicAuth('conftool', 'conftool-secret');
const other = basicAuth('other', 'other-secret');

beforeAll(async () => {
  etcd = await startEtcd();
  proxy = await startProxy({
    upstream: etcd.clientUrl,
    htpasswd: [
      htpasswdLine('root', 'root-secret', 'bcrypt'),
      htpasswdLine('conftool', 'conftool-secret', 'apr1'),
      htpasswdLine('other', 'other-secret', 'sha1'),
    ],
    config: {
      acls: { '/': ['root'], '/conftool': ['root', 'conftool'], '/conftool/locked': ['root'], '/eventlogging': [] },
      readAcls: { '/secret': ['root'] },
    },
  });
});

afterAll(async () => {
  await proxy?.stop();
  await etcd?.stop();
});

const put = (path: string, value: string, authorization?: string) =>
  rawRequest(proxy.url, path, { method: 'PUT', body: form({ value }), headers: authorization === undefined ? {} : { authorization } });

describe('writes under /v2/keys', () => {
  it('lets a listed user write under its prefix, and the key lands in etcd', async () => {
    const response = await put('/v2/keys/conftool/pools/a', 'pooled', conftool);
    expect(response.status).toBe(201);
    expect((await etcdKeys(etcd.clientUrl)).get('/conftool/pools/a')).toBe('pooled');
  });

  it('refuses an anonymous write with the production 401 body, byte for byte', async () => {
    const response = await put('/v2/keys/conftool/pools/b', 'x');
    expect(response.status).toBe(401);
    expect(response.headers['www-authenticate']).toBe('Basic realm="etcd"');
    expect(response.headers['content-type']).toBe('application/json');
    expect(response.headers['x-etcd-cluster-id']).toMatch(/^[0-9a-f]+$/);
    expect(response.body).toBe('{"errorCode":110,"message":"The request requires user authentication","cause":"Insufficient credentials","index":0}\n');
    expect((await etcdKeys(etcd.clientUrl)).has('/conftool/pools/b')).toBe(false);
  });

  it('refuses a wrong password and a user outside the list', async () => {
    expect((await put('/v2/keys/conftool/pools/c', 'x', basicAuth('conftool', 'wrong'))).status).toBe(401);
    expect((await put('/v2/keys/conftool/pools/c', 'x', other)).status).toBe(401);
    expect((await etcdKeys(etcd.clientUrl)).has('/conftool/pools/c')).toBe(false);
  });

  it('matches prefixes on segment boundaries: /conftool does not cover /conftoolx', async () => {
    expect((await put('/v2/keys/conftoolx', 'x', conftool)).status).toBe(401);
    expect((await put('/v2/keys/conftoolx', 'x', root)).status).toBe(201);
  });

  it('refuses a recursive delete of a prefix that holds a stricter rule below it', async () => {
    await put('/v2/keys/conftool/locked/k', 'keep', root);
    const response = await rawRequest(proxy.url, '/v2/keys/conftool?recursive=true', { method: 'DELETE', headers: { authorization: conftool } });
    expect(response.status).toBe(401);
    expect((await etcdKeys(etcd.clientUrl)).get('/conftool/locked/k')).toBe('keep');
  });

  it('lets anyone write under a prefix with an empty user list', async () => {
    expect((await put('/v2/keys/eventlogging/e', 'v')).status).toBe(201);
    const posted = await rawRequest(proxy.url, '/v2/keys/eventlogging/queue', { method: 'POST', body: form({ value: 'job' }) });
    expect(posted.status).toBe(201);
    expect(JSON.parse(posted.body).node.key).toMatch(/^\/eventlogging\/queue\/\d{20}$/);
  });

  it('never forwards credentials to etcd and never logs them', async () => {
    await put('/v2/keys/conftool/pools/logged', 'v', conftool);
    const line = await proxy.waitForLog((l) => l.msg === 'request' && l.key === '/conftool/pools/logged');
    expect(line).toMatchObject({ method: 'PUT', user: 'conftool', status: 201, decision: 'allowed' });
    const output = proxy.output();
    expect(output).not.toContain('conftool-secret');
    expect(output).not.toContain(conftool.slice('Basic '.length));
    expect(output).not.toMatch(/authorization/i);
  });

  it('logs one access line, without the query\'s values, for a request whose target cannot be decoded', async () => {
    const response = await rawRequest(proxy.url, '/v2/keys/undecodable/%%32%65?value=hidden-value', { method: 'PUT' });
    expect(response.status).toBe(400);
    const line = await proxy.waitForLog((l) => l.msg === 'request' && String(l.key).startsWith('/v2/keys/undecodable/'));
    expect(line).toMatchObject({ method: 'PUT', status: 400, decision: 'bad-request', reason: 'invalid percent escape "%%3" in the path' });
    expect(proxy.output()).not.toContain('hidden-value');
  });

  it('redacts values passed in the query string from the access log', async () => {
    await rawRequest(proxy.url, '/v2/keys/eventlogging/q?value=hunter2', { method: 'PUT' });
    expect(proxy.output()).not.toContain('hunter2');
  });
});

describe('brute force', () => {
  it('answers 429 with Retry-After to guesses after repeated failures from one address, never to a credential already proven', async () => {
    const guesser = { localAddress: '127.0.0.3' };
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) {
      const response = await rawRequest(proxy.url, '/v2/keys/conftool/guess', {
        ...guesser, method: 'PUT', body: form({ value: 'x' }), headers: { authorization: basicAuth('conftool', `guess-${i}`) },
      });
      statuses.push(response.status);
      if (response.status === 429) {
        expect(Number(response.headers['retry-after'])).toBeGreaterThan(0);
        expect(JSON.parse(response.body)).toMatchObject({ errorCode: 110, message: 'Too many failed authentication attempts' });
      }
    }
    expect(statuses.slice(0, 10)).toEqual(Array(10).fill(401));
    expect(statuses[10]).toBe(429);
    // conftool's password was verified by an earlier test: nothing left to
    // guess, so it is not refused, even from the guessing address…
    const sameAddress = await rawRequest(proxy.url, '/v2/keys/conftool/guess', { ...guesser, method: 'PUT', body: form({ value: 'x' }), headers: { authorization: conftool } });
    expect(sameAddress.status).toBe(201);
    // …while the guesses still are (a proven login forgives nothing).
    const nextGuess = await rawRequest(proxy.url, '/v2/keys/conftool/guess', { ...guesser, method: 'PUT', body: form({ value: 'x' }), headers: { authorization: basicAuth('conftool', 'guess-11') } });
    expect(nextGuess.status).toBe(429);
    // The real user, elsewhere, is not locked out either.
    const elsewhere = await rawRequest(proxy.url, '/v2/keys/conftool/guess', { localAddress: '127.0.0.4', method: 'PUT', body: form({ value: 'ok' }), headers: { authorization: conftool } });
    expect(elsewhere.status).toBe(200);
  });
});

describe('reads', () => {
  it('are anonymous, with etcd headers passed through', async () => {
    const response = await rawRequest(proxy.url, '/v2/keys/conftool/pools/a');
    expect(response.status).toBe(200);
    expect(response.headers['x-etcd-index']).toMatch(/^\d+$/);
    expect(response.headers['x-raft-index']).toMatch(/^\d+$/);
    expect(response.headers['x-raft-term']).toMatch(/^\d+$/);
    expect(JSON.parse(response.body).node.value).toBe('pooled');
  });

  it('need a user where a read ACL covers the key', async () => {
    await rawRequest(etcd.clientUrl, '/v2/keys/secret/s', { method: 'PUT', body: form({ value: 'classified' }) });
    expect((await rawRequest(proxy.url, '/v2/keys/secret/s')).status).toBe(401);
    const recursive = await rawRequest(proxy.url, '/v2/keys/?recursive=true');
    expect(recursive.status).toBe(401);
    expect(recursive.body).not.toContain('classified');
    const allowed = await rawRequest(proxy.url, '/v2/keys/secret/s', { headers: { authorization: root } });
    expect(JSON.parse(allowed.body).node.value).toBe('classified');
  });
});

describe('endpoints outside /v2/keys', () => {
  it('serves plain reads anonymously', async () => {
    for (const path of ['/version', '/health', '/v2/members', '/v2/machines', '/v2/stats/self', '/v2/stats/store']) {
      expect((await rawRequest(proxy.url, path)).status, path).toBe(200);
    }
    const metrics = await rawRequest(proxy.url, '/metrics');
    expect(metrics.body).toContain('etcd_server_has_leader');
  });

  it('refuses state changes without an admin, and the cluster is unchanged', async () => {
    const addMember = await rawRequest(proxy.url, '/v2/members', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ peerURLs: ['http://127.0.0.1:1'] }),
    });
    expect(addMember.status).toBe(401);
    const enableAuth = await rawRequest(proxy.url, '/v2/auth/enable', { method: 'PUT' });
    expect(enableAuth.status).toBe(401);
    // The v3 gateway is decided by the v3 rules: an anonymous write outside an open rule is etcd's permission denied.
    const v3put = await rawRequest(proxy.url, '/v3/kv/put', { method: 'POST', body: JSON.stringify({ key: 'Zm9v', value: 'YmFy' }) });
    expect(v3put.status).toBe(403);
    expect(JSON.parse(v3put.body)).toMatchObject({ code: 7, error: 'etcdserver: permission denied' });
    const members = JSON.parse((await rawRequest(etcd.clientUrl, '/v2/members')).body) as { members: unknown[] };
    expect(members.members).toHaveLength(1);
    expect((await rawRequest(etcd.clientUrl, '/v2/auth/enable')).body).toContain('"enabled":false');
  });

  it('refuses a WebSocket upgrade to the v3 gateway, which would write a key', async () => {
    const response = await rawRequest(proxy.url, '/v3/kv/put', { headers: { connection: 'Upgrade', upgrade: 'websocket' } });
    expect(response.status).toBe(400);
    expect(JSON.parse(response.body)).toMatchObject({ errorCode: 209 });
  });

  it('lets an admin through', async () => {
    const response = await rawRequest(proxy.url, '/v2/auth/users', { headers: { authorization: root } });
    expect(response.status).toBe(200);
  });

  it('answers unknown paths 404 with an etcd-style body', async () => {
    const response = await rawRequest(proxy.url, '/nothing/here');
    expect(response.status).toBe(404);
    expect(JSON.parse(response.body)).toMatchObject({ message: 'Not found' });
  });
});

describe('request bodies', () => {
  it('refuses a declared body over 20 MiB with 413 before forwarding', async () => {
    const response = await rawRequest(proxy.url, '/v2/keys/eventlogging/big', {
      method: 'PUT',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(21 * 1024 * 1024) },
    }).catch((error: Error) => ({ status: 0, body: error.message, headers: {} }));
    expect(response.status).toBe(413);
    expect((await etcdKeys(etcd.clientUrl)).has('/eventlogging/big')).toBe(false);
  });

  // etcd itself refuses form bodies over 10 MiB (Go's ParseForm), so the
  // streaming limit is shown with a 1 MiB limit of our own.
  it('stops a chunked body that grows past the configured limit with 413', async () => {
    const small = await startProxy({ upstream: etcd.clientUrl, config: { acls: { '/': [] }, maxBodyBytes: 1024 * 1024 } });
    const status = await new Promise<number>((resolve, reject) => {
      const url = new URL(small.url);
      const request = httpRequest({ host: url.hostname, port: url.port, method: 'PUT', path: '/v2/keys/eventlogging/big2', headers: { 'content-type': 'application/x-www-form-urlencoded' } }, (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      });
      request.on('error', reject);
      request.write('value=');
      const chunk = Buffer.alloc(1024 * 1024, 'x');
      let sent = 0;
      const pump = (): void => {
        while (sent < 3 && !request.destroyed) {
          sent += 1;
          if (!request.write(chunk)) {
            request.once('drain', pump);
            return;
          }
        }
        request.end();
      };
      pump();
    });
    await small.stop();
    expect(status).toBe(413);
    expect((await etcdKeys(etcd.clientUrl)).has('/eventlogging/big2')).toBe(false);
  });
});
