import { describe, expect, it } from 'vitest';
import { parseEtcdRequest, type ParsedRequest } from '../../proxy/request.js';

function keyOf(parsed: ParsedRequest): string {
  if (!parsed.ok) throw new Error(`expected a parsed request, got ${JSON.stringify(parsed.answer)}`);
  if (parsed.request.kind !== 'keys') throw new Error('expected a keys request');
  return parsed.request.key;
}

describe('parseEtcdRequest: the key etcd will act on', () => {
  const table: Array<[string, string]> = [
    ['/v2/keys/public/x', '/public/x'],
    ['/v2/keys/public/%73ecret/x', '/public/secret/x'],
    ['/v2/keys/public%2Fy', '/public/y'],
    ['/v2/keys/public%2fy', '/public/y'],
    ['/v2/keys/public%252Fx', '/public%2Fx'],
    ['/v2/keys/public/t/', '/public/t'],
    ['/v2/keys', '/'],
    ['/v2/keys/', '/'],
    ['/v2/keys/public\\locked\\k', '/public\\locked\\k'],
    ['/v2/keys/public/%5clocked', '/public/\\locked'],
    ['/v2/keys/a;x/y', '/a;x/y'],
    ['/v2/keys/a%3Fb', '/a?b'],
    ['/v2/keys/a%23b', '/a#b'],
    ['/v2/keys/...', '/...'],
    ['/v2/keys/caf%C3%A9', '/café'],
  ];
  it.each(table)('%s acts on %s', (target, key) => {
    expect(keyOf(parseEtcdRequest('PUT', target, false))).toBe(key);
  });
});

describe('parseEtcdRequest: spellings etcd would redirect instead of executing', () => {
  const table: Array<[string, string]> = [
    ['/v2/keys/public/../secret/s', '/v2/keys/secret/s'],
    ['/v2/keys/public/%2e%2e/secret/s', '/v2/keys/secret/s'],
    ['/v2/keys/public/%2E%2E/secret/s', '/v2/keys/secret/s'],
    ['/v2/keys/public/..%2fsecret/s', '/v2/keys/secret/s'],
    ['/v2/keys/public%2F..%2Fsecret', '/v2/keys/secret'],
    ['/v2/keys/public//z', '/v2/keys/public/z'],
    ['//v2/keys/public/z', '/v2/keys/public/z'],
    ['/v2/keys/public/./z', '/v2/keys/public/z'],
    ['/v2/keys/public/%2e/locked/k2', '/v2/keys/public/locked/k2'],
    ['/v2/keys/public/locked/k5/.', '/v2/keys/public/locked/k5'],
    ['/v2/keys/../../etc?wait=true', '/etc?wait=true'],
  ];
  it.each(table)('%s is answered 301 to %s', (target, location) => {
    expect(parseEtcdRequest('PUT', target, false)).toEqual({ ok: false, answer: { kind: 'redirect', location } });
  });
});

describe('parseEtcdRequest: refusals', () => {
  const table: Array<[string, string]> = [
    ['/v2/keys/%zz', 'invalid percent escape'],
    ['/v2/keys/%C0%AE', 'not valid UTF-8'],
    ['/v2/keys/a%00b', 'control character'],
    ['/v2/keys/a#b', '"#"'],
    ['http://127.0.0.1/v2/keys/a', 'absolute-form'],
    ['*', 'absolute-form'],
  ];
  it.each(table)('%s is refused (%s)', (target, reason) => {
    const parsed = parseEtcdRequest('PUT', target, false);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok && parsed.answer.kind === 'bad-request') expect(parsed.answer.reason).toContain(reason);
    else throw new Error('expected a bad-request answer');
  });

  it('refuses any Upgrade request', () => {
    expect(parseEtcdRequest('GET', '/v3/kv/put', true)).toMatchObject({ ok: false, answer: { kind: 'bad-request' } });
  });
});

describe('parseEtcdRequest: watches and the upstream path', () => {
  it('marks GET with wait=true (any Go spelling of true) as a watch', () => {
    for (const spelling of ['true', '1', 't', 'TRUE', 'True']) {
      const parsed = parseEtcdRequest('GET', `/v2/keys/a?recursive=true&wait=${spelling}`, false);
      expect(parsed.ok && parsed.request.kind === 'keys' && parsed.request.watch).toBe(true);
    }
  });

  it('does not mark a PUT with wait=true, nor a GET with wait=false, as a watch', () => {
    for (const [method, target] of [['PUT', '/v2/keys/a?wait=true'], ['GET', '/v2/keys/a?wait=false']] as const) {
      const parsed = parseEtcdRequest(method, target, false);
      expect(parsed.ok && parsed.request.kind === 'keys' && parsed.request.watch).toBe(false);
    }
  });

  it('forwards a path rebuilt from the key, never the raw spelling', () => {
    const parsed = parseEtcdRequest('PUT', '/v2/keys/public\\locked%2Fk?value=1', false);
    expect(parsed).toMatchObject({ ok: true, request: { upstreamPath: '/v2/keys/public%5Clocked/k', query: 'value=1' } });
  });

  it('classifies paths outside /v2/keys as endpoints', () => {
    expect(parseEtcdRequest('GET', '/v2/members', false)).toMatchObject({ ok: true, request: { kind: 'endpoint', path: '/v2/members' } });
    expect(parseEtcdRequest('GET', '/v2/keysfoo', false)).toMatchObject({ ok: true, request: { kind: 'endpoint', path: '/v2/keysfoo' } });
  });
});
