// One test per row of the README's "Endpoints outside /v2/keys" table
// (etcd 3.4's routes on the client port): anonymous refused where the route
// can change state, an admin let through, the effect checked in etcd itself.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEtcd, type EtcdProcess } from '../fixtures/etcd.js';
import { rawRequest, type RawResponse } from '../fixtures/http.js';
import { basicAuth, htpasswdLine, startProxy, type ProxyProcess } from '../fixtures/proxy.js';

let etcd: EtcdProcess;
let proxy: ProxyProcess;
const root = basicAuth('root', 'root-secret');
const writer = basicAuth('writer', 'writer-secret');

beforeAll(async () => {
  etcd = await startEtcd('endpoints');
  proxy = await startProxy({
    upstream: etcd.clientUrl,
    htpasswd: [htpasswdLine('root', 'root-secret', 'sha1'), htpasswdLine('writer', 'writer-secret', 'sha1')],
    // `writer` may write every key but is no admin: key rights never open endpoints.
    config: { acls: { '/': ['root', 'writer'] }, admins: ['root'] },
  });
});

afterAll(async () => {
  await proxy?.stop();
  await etcd?.stop();
});

const json = { 'content-type': 'application/json' };
const call = (path: string, method: string, authorization?: string, body?: string): Promise<RawResponse> =>
  rawRequest(proxy.url, path, { method, headers: { ...json, ...(authorization === undefined ? {} : { authorization }) }, ...(body === undefined ? {} : { body }) });

const direct = (path: string, method = 'GET', body?: string): Promise<RawResponse> => rawRequest(etcd.clientUrl, path, { method, headers: json, ...(body === undefined ? {} : { body }) });

async function members(): Promise<{ id: string; peerURLs: string[] }[]> {
  return (JSON.parse((await direct('/v2/members')).body) as { members: { id: string; peerURLs: string[] }[] }).members;
}

/** A v3 key read straight from etcd's gateway (base64 in, base64 out). */
async function v3Value(key: string): Promise<string | undefined> {
  const response = await direct('/v3/kv/range', 'POST', JSON.stringify({ key: Buffer.from(key).toString('base64') }));
  const kvs = (JSON.parse(response.body) as { kvs?: { value: string }[] }).kvs;
  const value = kvs?.[0]?.value;
  return value === undefined ? undefined : Buffer.from(value, 'base64').toString();
}

const v3Put = (key: string, value: string): string => JSON.stringify({ key: Buffer.from(key).toString('base64'), value: Buffer.from(value).toString('base64') });

describe('row: /version, /health, /metrics, /v2/machines, /v2/stats/*', () => {
  const paths = ['/version', '/health', '/metrics', '/v2/machines', '/v2/stats/self', '/v2/stats/store', '/v2/stats/leader'];

  it('serves GET and HEAD anonymously, with etcd\'s own answer', async () => {
    for (const path of paths) {
      expect((await call(path, 'GET')).status, path).toBe(200);
      // Forwarded: etcd's own answer (it refuses HEAD on some of these with 405).
      expect((await call(path, 'HEAD')).status, path).toBe((await direct(path, 'HEAD')).status);
    }
    expect((await call('/version', 'GET')).body).toContain('etcdserver');
  });

  it('refuses other methods without an admin; an admin reaches etcd, which refuses them itself', async () => {
    for (const path of paths) {
      for (const method of ['PUT', 'POST', 'DELETE']) expect((await call(path, method)).status, `${method} ${path}`).toBe(401);
      expect((await call(path, 'POST', writer)).status, path).toBe(401);
    }
    // etcd's answer, not ours: these routes have no writes.
    expect((await call('/v2/stats/self', 'POST', root)).status).toBe(405);
  });
});

describe('row: /v2/members, /v2/members/*', () => {
  it('lists members and the leader anonymously', async () => {
    expect(JSON.parse((await call('/v2/members', 'GET')).body)).toMatchObject({ members: [{ name: 'endpoints' }] });
    expect((await call('/v2/members/leader', 'GET')).status).toBe(200);
    expect((await call('/v2/members', 'HEAD')).status).toBe((await direct('/v2/members', 'HEAD')).status);
  });

  it('refuses add, update and remove without an admin, and the membership is unchanged', async () => {
    const before = await members();
    const id = before[0]?.id ?? '';
    expect((await call('/v2/members', 'POST', undefined, JSON.stringify({ peerURLs: ['http://127.0.0.1:1'] }))).status).toBe(401);
    expect((await call('/v2/members', 'POST', writer, JSON.stringify({ peerURLs: ['http://127.0.0.1:1'] }))).status).toBe(401);
    expect((await call(`/v2/members/${id}`, 'PUT', undefined, JSON.stringify({ peerURLs: ['http://127.0.0.1:2'] }))).status).toBe(401);
    expect((await call(`/v2/members/${id}`, 'DELETE')).status).toBe(401);
    expect(await members()).toEqual(before);
  });

  it('lets an admin update a member (same peer URLs: harmless) and reach remove', async () => {
    const before = await members();
    const self = before[0];
    if (self === undefined) throw new Error('etcd reported no member');
    const update = await call(`/v2/members/${self.id}`, 'PUT', root, JSON.stringify({ peerURLs: self.peerURLs }));
    expect(update.status).toBe(204);
    // etcd's own 404 for an unknown id: the admin's DELETE reached it.
    expect((await call('/v2/members/1234', 'DELETE', root)).status).toBe(404);
    expect(await members()).toEqual(before);
  });
});

describe('row: /v2/auth/*', () => {
  it('refuses every method without an admin, reads included, and etcd auth stays off with no users', async () => {
    for (const [method, path, body] of [
      ['GET', '/v2/auth/users', undefined],
      ['GET', '/v2/auth/enable', undefined],
      ['PUT', '/v2/auth/users/root', JSON.stringify({ user: 'root', password: 'pwned' })],
      ['PUT', '/v2/auth/enable', undefined],
      ['DELETE', '/v2/auth/enable', undefined],
      ['PUT', '/v2/auth/roles/r', JSON.stringify({ role: 'r' })],
    ] as const) {
      expect((await call(path, method, undefined, body)).status, `${method} ${path}`).toBe(401);
      expect((await call(path, method, writer, body)).status, `${method} ${path} by a non-admin`).toBe(401);
    }
    expect(JSON.parse((await direct('/v2/auth/enable')).body)).toEqual({ enabled: false });
    expect((await direct('/v2/auth/users/root')).status).toBe(404);
  });

  it('lets an admin through, and the user it creates exists in etcd', async () => {
    expect((await call('/v2/auth/enable', 'GET', root)).status).toBe(200);
    const created = await call('/v2/auth/users/alice', 'PUT', root, JSON.stringify({ user: 'alice', password: 'alice-pw' }));
    expect(created.status).toBe(201);
    expect(JSON.parse((await direct('/v2/auth/users/alice')).body)).toMatchObject({ user: 'alice' });
  });
});

describe('row: /config/local/log', () => {
  it('refuses anonymous and non-admin callers; an admin\'s change reaches etcd (204)', async () => {
    expect((await call('/config/local/log', 'PUT', undefined, JSON.stringify({ Level: 'DEBUG' }))).status).toBe(401);
    expect((await call('/config/local/log', 'PUT', writer, JSON.stringify({ Level: 'DEBUG' }))).status).toBe(401);
    expect((await call('/config/local/log', 'GET')).status).toBe(401);
    expect((await call('/config/local/log', 'PUT', root, JSON.stringify({ Level: 'ERROR' }))).status).toBe(204);
  });
});

describe('row: /debug/*', () => {
  it('keeps expvar (full command line, memstats) from anonymous callers; an admin reads it', async () => {
    const anonymous = await call('/debug/vars', 'GET');
    expect(anonymous.status).toBe(401);
    expect(anonymous.body).not.toContain('cmdline');
    const admin = await call('/debug/vars', 'GET', root);
    expect(admin.status).toBe(200);
    expect(admin.body).toContain('cmdline');
  });

  it('refuses pprof to anonymous callers; for an admin it is etcd\'s answer (404 unless --enable-pprof)', async () => {
    expect((await call('/debug/pprof/profile?seconds=30', 'GET')).status).toBe(401);
    expect((await call('/debug/pprof/', 'GET', root)).status).toBe(404);
  });
});

describe('row: /v3/*, /v3beta/* (the v3 rules), /v3alpha/*', () => {
  it('decides the gateway by the v3 rules: a user writes inside its ACL, anonymous callers do not, reads are anonymous', async () => {
    for (const prefix of ['/v3', '/v3beta']) {
      expect((await call(`${prefix}/kv/put`, 'POST', undefined, v3Put(`anon${prefix}`, 'x'))).status, prefix).toBe(403);
      expect((await call(`${prefix}/kv/put`, 'POST', writer, v3Put(`writer${prefix}`, 'x'))).status, prefix).toBe(200);
      expect((await call(`${prefix}/kv/range`, 'POST', undefined, JSON.stringify({ key: 'YQ==' }))).status, prefix).toBe(200);
    }
    expect((await call('/v3/kv/deleterange', 'POST', undefined, JSON.stringify({ key: 'AA==', range_end: 'AA==' }))).status).toBe(403);
    expect(await v3Value('anon/v3')).toBeUndefined();
    expect(await v3Value('anon/v3beta')).toBeUndefined();
    expect(await v3Value('writer/v3')).toBe('x');
    expect(await v3Value('writer/v3beta')).toBe('x');
  });

  it('keeps maintenance for admins: a user who may write every key is refused a defragment, an admin is not', async () => {
    expect((await call('/v3/maintenance/defragment', 'POST', undefined, '{}')).status).toBe(403);
    expect((await call('/v3/maintenance/defragment', 'POST', writer, '{}')).status).toBe(403);
    expect((await call('/v3/maintenance/defragment', 'POST', root, '{}')).status).toBe(200);
  });

  it('keeps /v3alpha, which etcd 3.4 does not serve, for admins: 401 without one, etcd\'s 404 with one', async () => {
    expect((await call('/v3alpha/kv/put', 'POST', writer, v3Put('writer-v3alpha', 'x'))).status).toBe(401);
    expect((await call('/v3alpha/kv/put', 'POST', root, v3Put('admin-v3alpha', 'yes'))).status).toBe(404);
    expect(await v3Value('writer-v3alpha')).toBeUndefined();
  });
});

describe('row: any request with Upgrade', () => {
  it('is refused (400), even for an admin, and the WebSocket v3 write never happens', async () => {
    for (const authorization of [undefined, root]) {
      const response = await rawRequest(proxy.url, '/v3/kv/put', {
        headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', ...(authorization === undefined ? {} : { authorization }) },
      });
      expect(response.status).toBe(400);
    }
    expect(await v3Value('ws')).toBeUndefined();
  });
});

describe('row: anything else', () => {
  it('answers 404 with an etcd-style body, admin or not, and forwards nothing', async () => {
    for (const path of ['/', '/v2', '/v2/keysx', '/V2/keys/x', '/healthz', '/version/x', '/metricsx', '/v2/statsx', '/debugx', '/v4/kv/put', '/config', '/config/local', '/v2/machinesx']) {
      for (const authorization of [undefined, root]) {
        const response = await call(path, 'PUT', authorization, '{}');
        expect(response.status, path).toBe(404);
        expect(JSON.parse(response.body), path).toMatchObject({ message: 'Not found' });
      }
    }
  });
});

describe('OPTIONS (CORS preflight)', () => {
  it('is answered on every known path without credentials and changes nothing', async () => {
    const before = await members();
    for (const path of ['/v2/keys/x', '/version', '/v2/members', '/v2/auth/enable', '/config/local/log', '/debug/vars', '/v3/kv/put']) {
      expect((await call(path, 'OPTIONS')).status, path).toBe(200);
    }
    expect(JSON.parse((await direct('/v2/auth/enable')).body)).toEqual({ enabled: false });
    expect(await members()).toEqual(before);
  });
});
