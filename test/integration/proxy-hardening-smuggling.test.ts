// Every way we know to smuggle a write past the ACL, each sent as raw bytes
// and each checked in etcd: refused, or made harmless.
import { describe, expect, it } from 'vitest';
import { etcdKeys, form, rawRequest } from '../fixtures/http.js';
import { basicAuth } from '../fixtures/proxy.js';
import { publisherAuthorization, rootAuthorization, usePublisherProxy } from '../fixtures/publisher-proxy.js';
import { requestBytes, sendRaw } from './proxy-hardening-wire.js';

const warden = usePublisherProxy('smuggling');
const root = rootAuthorization;
const publisher = publisherAuthorization;

const keys = (): Promise<Map<string, string>> => etcdKeys(warden.etcd.clientUrl);

/** The proxy still answers a plain read afterwards: nothing was left half-parsed or wedged. */
async function stillServes(): Promise<void> {
  const response = await rawRequest(warden.proxy.url, '/version');
  expect(response.status).toBe(200);
}

describe('methods', () => {
  it.each(['put', 'Put', 'pUT', 'post', 'delete'])('refuses the non-canonical method %s, and etcd is unchanged', async (method) => {
    const exchange = await sendRaw(warden.proxy.url, requestBytes(method, `/v2/keys/secret/${method}`, { Authorization: publisher, Connection: 'close' }, form({ value: 'x' })));
    // Node's parser knows methods only in upper case: 400 before any hook runs.
    expect(exchange.responses.map((r) => r.status)).toEqual([400]);
    expect(JSON.parse(exchange.responses[0]?.body ?? '{}')).toMatchObject({ errorCode: 209 });
    expect([...(await keys()).keys()].filter((k) => k.startsWith('/secret/'))).toEqual([]);
    await stillServes();
  });

  it.each(['PATCH', 'PROPFIND', 'MKCOL', 'PROPPATCH', 'COPY', 'MOVE', 'LOCK', 'SEARCH'])('answers %s on a key 405, even for root, and etcd is unchanged', async (method) => {
    for (const authorization of [publisher, root]) {
      const exchange = await sendRaw(warden.proxy.url, requestBytes(method, '/v2/keys/public/unknown-method', { Authorization: authorization, Connection: 'close' }, form({ value: 'x' })));
      expect(exchange.responses[0]?.status).toBe(405);
      expect(exchange.responses[0]?.headers.allow).toBe('GET,HEAD,OPTIONS,PUT,POST,DELETE');
    }
    expect((await keys()).has('/public/unknown-method')).toBe(false);
  });

  it('ignores X-HTTP-Method-Override and its cousins on a GET: etcd does not honour them, nothing is written', async () => {
    for (const header of ['X-HTTP-Method-Override', 'X-HTTP-Method', 'X-Method-Override']) {
      const response = await rawRequest(warden.proxy.url, `/v2/keys/secret/override?value=smuggled`, { headers: { [header]: 'PUT' } });
      // An anonymous read, as it claims to be: etcd answers "not found".
      expect(response.status).toBe(404);
      const deleteOverride = await rawRequest(warden.proxy.url, '/v2/keys/public?recursive=true', { headers: { [header]: 'DELETE' } });
      expect(deleteOverride.status).not.toBe(200);
    }
    // etcd direct, to show the header itself is harmless and not merely refused by us.
    await rawRequest(warden.etcd.clientUrl, '/v2/keys/secret/direct?value=smuggled', { headers: { 'X-HTTP-Method-Override': 'PUT' } });
    const after = await keys();
    expect(after.has('/secret/override')).toBe(false);
    expect(after.has('/secret/direct')).toBe(false);
  });
});

describe('framing', () => {
  // The body carries a whole second request; if anything on the way trusted
  // Content-Length while another trusted Transfer-Encoding, it would run.
  const smuggled = requestBytes('PUT', '/v2/keys/secret/smuggled', {}, form({ value: 'smuggled' }));

  it.each([
    ['Content-Length and Transfer-Encoding together', `Content-Length: 4\r\nTransfer-Encoding: chunked`],
    ['Transfer-Encoding then Content-Length', `Transfer-Encoding: chunked\r\nContent-Length: 4`],
    ['two different Content-Lengths', `Content-Length: 0\r\nContent-Length: 300`],
    ['Transfer-Encoding: chunked, identity', `Transfer-Encoding: chunked, identity\r\nContent-Length: 4`],
    ['a space before the colon', `Transfer-Encoding : chunked`],
    ['an obs-fold continuation', `Transfer-Encoding: identity\r\n chunked`],
    ['Transfer-Encoding: xchunked', `Transfer-Encoding: xchunked`],
    ['a signed Content-Length', `Content-Length: +4`],
  ])('refuses %s and nothing behind it runs', async (_name, framing) => {
    const body = `0\r\n\r\n${smuggled}`;
    const bytes = `PUT /v2/keys/public/framing HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${publisher}\r\nContent-Type: application/x-www-form-urlencoded\r\n${framing}\r\n\r\n${body}`;
    const exchange = await sendRaw(warden.proxy.url, bytes, { timeoutMs: 3_000 });
    expect(exchange.responses.length).toBeLessThanOrEqual(1);
    expect(exchange.responses[0]?.status).toBe(400);
    expect(exchange.closedByServer).toBe(true);
    const after = await keys();
    expect(after.has('/secret/smuggled')).toBe(false);
    expect(after.has('/public/framing')).toBe(false);
    await stillServes();
  });

  it('carries a chunked body holding a request to etcd as data: stored as the value, never executed', async () => {
    const body = form({ value: `x\r\n0\r\n\r\n${smuggled}` });
    const chunked = `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`;
    const bytes = `PUT /v2/keys/public/carrier HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${publisher}\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${chunked}`;
    const exchange = await sendRaw(warden.proxy.url, bytes);
    expect(exchange.responses.map((r) => r.status)).toEqual([201]);
    const after = await keys();
    expect(after.get('/public/carrier')).toContain('PUT /v2/keys/secret/smuggled');
    expect(after.has('/secret/smuggled')).toBe(false);
    // The upstream connection that carried it is still in step: the next writes land where they say.
    for (let i = 0; i < 5; i++) expect((await rawRequest(warden.proxy.url, `/v2/keys/public/after-${i}`, { method: 'PUT', body: form({ value: 'v' }), headers: { authorization: publisher } })).status).toBe(201);
    expect([...(await keys()).keys()].filter((k) => k.startsWith('/public/after-'))).toHaveLength(5);
  });
});

describe('pipelining: every request on a connection is authorised on its own', () => {
  it('refuses the anonymous and the wrong-user requests behind an authorised one, in order', async () => {
    const bytes =
      requestBytes('PUT', '/v2/keys/public/pipe-1', { Authorization: publisher }, form({ value: 'one' })) +
      requestBytes('PUT', '/v2/keys/secret/pipe-2', {}, form({ value: 'anonymous' })) +
      requestBytes('PUT', '/v2/keys/secret/pipe-3', { Authorization: publisher }, form({ value: 'wrong user' })) +
      requestBytes('PUT', '/v2/keys/secret/pipe-4', { Authorization: root }, form({ value: 'root' })) +
      requestBytes('PUT', '/v2/keys/secret/pipe-5', { Authorization: basicAuth('root', 'wrong') }, form({ value: 'bad password' })) +
      requestBytes('GET', '/v2/keys/secret/pipe-4', { Connection: 'close' });
    const exchange = await sendRaw(warden.proxy.url, bytes, { expectResponses: 6 });
    expect(exchange.responses.map((r) => r.status)).toEqual([201, 401, 401, 201, 401, 200]);
    const after = await keys();
    expect(after.get('/public/pipe-1')).toBe('one');
    expect(after.get('/secret/pipe-4')).toBe('root');
    expect(after.has('/secret/pipe-2')).toBe(false);
    expect(after.has('/secret/pipe-3')).toBe(false);
    expect(after.has('/secret/pipe-5')).toBe(false);
  });

  it('applies pipelined writes to one key in the order they were sent, as etcd does', async () => {
    let bytes = '';
    for (let i = 1; i <= 30; i++) bytes += requestBytes('PUT', '/v2/keys/public/ordered', { Authorization: publisher }, form({ value: String(i) }));
    bytes += requestBytes('GET', '/v2/keys/public/ordered', { Connection: 'close' });
    const exchange = await sendRaw(warden.proxy.url, bytes, { expectResponses: 31 });
    expect(exchange.responses).toHaveLength(31);
    expect(JSON.parse(exchange.responses[30]?.body ?? '{}')).toMatchObject({ node: { value: '30' } });
    expect((await keys()).get('/public/ordered')).toBe('30');
  });

  it('does not carry root\'s identity to the next request on the same connection', async () => {
    const bytes =
      requestBytes('PUT', '/v2/keys/secret/sticky-1', { Authorization: root }, form({ value: 'root' })) +
      requestBytes('DELETE', '/v2/keys/secret/sticky-1', { Connection: 'close' });
    const exchange = await sendRaw(warden.proxy.url, bytes, { expectResponses: 2 });
    expect(exchange.responses.map((r) => r.status)).toEqual([201, 401]);
    expect((await keys()).get('/secret/sticky-1')).toBe('root');
  });
});

describe('parameters: the key comes from the path only', () => {
  it('in etcd itself: body beats query for the value, and a `key` parameter is ignored', async () => {
    const response = await rawRequest(warden.etcd.clientUrl, '/v2/keys/public/direct?key=/secret/q&value=fromquery', { method: 'PUT', body: form({ key: '/secret/b', value: 'frombody' }) });
    expect(response.status).toBe(201);
    const after = await keys();
    expect(after.get('/public/direct')).toBe('frombody');
    expect(after.has('/secret/q')).toBe(false);
    expect(after.has('/secret/b')).toBe(false);
  });

  it('through the proxy: a publisher naming /secret in the query or body writes its own path, nothing else', async () => {
    const response = await rawRequest(warden.proxy.url, '/v2/keys/public/param?key=/secret/q&value=fromquery', {
      method: 'PUT', body: form({ key: '/secret/b', value: 'frombody' }), headers: { authorization: publisher },
    });
    expect(response.status).toBe(201);
    const after = await keys();
    expect(after.get('/public/param')).toBe('frombody');
    expect([...after.keys()].filter((k) => k.startsWith('/secret/q') || k.startsWith('/secret/b'))).toEqual([]);
  });

  it('decides on the path even when the parameters point inside the user\'s prefix', async () => {
    const response = await rawRequest(warden.proxy.url, '/v2/keys/secret/param?key=/public/q', {
      method: 'PUT', body: form({ key: '/public/b', value: 'x' }), headers: { authorization: publisher },
    });
    expect(response.status).toBe(401);
    expect((await keys()).has('/secret/param')).toBe(false);
  });

  it('refuses a recursive DELETE and a directory TTL on the root, whatever the query says', async () => {
    for (const [method, target, body] of [
      ['DELETE', '/v2/keys/?recursive=true', undefined],
      ['DELETE', '/v2/keys/public/..?recursive=true', undefined],
      ['PUT', '/v2/keys/?dir=true&ttl=1&prevExist=true', form({ dir: 'true', ttl: '1', prevExist: 'true' })],
    ] as const) {
      const response = await rawRequest(warden.proxy.url, target, { method, headers: { authorization: publisher }, ...(body === undefined ? {} : { body }) });
      expect(response.status, `${method} ${target}`).not.toBe(200);
      expect(response.status, `${method} ${target}`).not.toBe(201);
    }
    expect((await keys()).get('/public/direct')).toBe('frombody');
  });
});

describe('POST (in-order keys)', () => {
  it('creates the key under the directory in the path, inside the prefix', async () => {
    const response = await rawRequest(warden.proxy.url, '/v2/keys/public/queue', { method: 'POST', body: form({ value: 'job', key: '/secret/job' }), headers: { authorization: publisher } });
    expect(response.status).toBe(201);
    const created = (JSON.parse(response.body) as { node: { key: string } }).node.key;
    expect(created).toMatch(/^\/public\/queue\/\d{20}$/);
    expect((await keys()).get(created)).toBe('job');
  });

  it('refuses POST to a sibling that shares the prefix\'s spelling, and to the root', async () => {
    for (const target of ['/v2/keys/publicqueue', '/v2/keys/', '/v2/keys', '/v2/keys/public%2F..%2Fsecret']) {
      const response = await rawRequest(warden.proxy.url, target, { method: 'POST', body: form({ value: 'job' }), headers: { authorization: publisher } });
      expect(response.status, target).not.toBe(201);
    }
    const after = [...(await keys()).keys()];
    expect(after.filter((k) => !k.startsWith('/public/') && !k.startsWith('/secret/pipe-4') && !k.startsWith('/secret/sticky-1'))).toEqual([]);
  });
});
