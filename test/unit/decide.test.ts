// The whole request decision in its order (proxy/decide.ts): which stage
// answers first, and what each Decision tells the access log and metrics.
import { createHash } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { parseHtpasswd } from '../../config/htpasswd.js';
import { validateConfig } from '../../config/schema.js';
import { FailedAuthLimiter } from '../../proxy/auth/failure-limiter.js';
import { verifyPassword } from '../../proxy/auth/password-hash.js';
import { CredentialVerifier } from '../../proxy/auth/verifier.js';
import { decide, type DecisionServices, type InboundRequest, type ReplicaClock } from '../../proxy/decide.js';
import { compileRuntime } from '../../proxy/runtime.js';

const sha = (password: string): string => `{SHA}${createHash('sha1').update(password).digest('base64')}`;
const users = parseHtpasswd(`root:${sha('secret')}\nconftool:${sha('secret')}\n`, 'test');
if (!users.ok) throw new Error(users.errors.join('\n'));
const config = validateConfig({ htpasswd: '/unused', maxBodyBytes: 100, acls: { '/': ['root'], '/conftool': ['root', 'conftool'], '/open': [] } });
if (!config.ok) throw new Error(config.errors.join('\n'));
const runtime = compileRuntime({ file: 'test.yaml', config: config.value, users: users.table, warnings: [] });
afterAll(() => runtime.upstream.destroy());

let replica: ReplicaClock | undefined;
const services: DecisionServices = {
  // {SHA} is checked in this thread anyway; no worker pool for a unit table.
  verifier: new CredentialVerifier({ table: users.table, offThreadVerify: async (entry, password) => verifyPassword(entry, password) }),
  limiter: new FailedAuthLimiter(),
  replica: () => replica,
};

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const request = (method: string, target: string, more: Partial<InboundRequest> = {}): InboundRequest => ({
  method,
  target,
  upgrade: false,
  headerCount: 3,
  overConnectionCap: false,
  contentLength: undefined,
  authorization: undefined,
  maxStaleness: undefined,
  remote: '192.0.2.1',
  ...more,
});

describe('decide: the stages in order, one Decision out', () => {
  it.each([
    ['the connection cap before anything, even an unparsable target', request('PUT', '/v2/keys/%zz', { overConnectionCap: true }),
      { kind: 'refuse', label: 'denied-limit', error: { status: 503 }, reason: 'over limits.maxConnections (10000)' }],
    ['too many header fields before parsing', request('GET', '/v2/keys/a', { headerCount: 101 }),
      { kind: 'refuse', label: 'denied-limit', error: { status: 431 }, reason: 'over limits.maxHeaderCount (100)' }],
    ['a non-canonical path: etcd\'s 301, before any ACL', request('PUT', '/v2/keys/open/../conftool/x'),
      { kind: 'redirect', location: '/v2/keys/conftool/x', label: 'bad-request', reason: 'non-canonical path, redirected as etcd would' }],
    ['an undecodable path', request('GET', '/v2/keys/%zz'),
      { kind: 'refuse', label: 'bad-request', error: { status: 400 }, reason: 'invalid percent escape "%zz" in the path' }],
    ['a request line etcd cannot read', request('GET', `/v2/keys/${'k'.repeat(4100)}`),
      { kind: 'refuse', label: 'denied-limit', error: { status: 414 }, reason: 'request line too long for etcd' }],
    ['a declared body over maxBodyBytes, before authentication', request('PUT', '/v2/keys/conftool/x', { contentLength: '101' }),
      { kind: 'refuse', label: 'bad-request', error: { status: 413 }, reason: undefined }],
    ['a write that needs a user, without credentials', request('PUT', '/v2/keys/conftool/x'),
      { kind: 'refuse', label: 'denied-auth', error: { status: 401 }, reason: 'no-credentials', authFailure: 'no-credentials', user: undefined }],
    ['a wrong password, logged with the user it claimed', request('PUT', '/v2/keys/conftool/x', { authorization: basic('conftool', 'guess') }),
      { kind: 'refuse', label: 'denied-auth', reason: 'bad-credentials', authFailure: 'bad-credentials', user: 'conftool' }],
    ['a proven user outside the rule', request('PUT', '/v2/keys/elsewhere', { authorization: basic('conftool', 'secret') }),
      { kind: 'refuse', label: 'denied-auth', reason: 'not-permitted: needs a user allowed by the ACL rules /', authFailure: 'not-permitted', user: 'conftool' }],
    ['a proven user inside the rule', request('PUT', '/v2/keys/conftool/x?value=1', { authorization: basic('conftool', 'secret') }),
      { kind: 'allow', label: 'allowed', user: 'conftool', request: { kind: 'keys', key: '/conftool/x' }, logged: { target: '/conftool/x', query: 'value=1', watch: false } }],
    ['an open prefix, without asking for a password', request('PUT', '/v2/keys/open/x', { authorization: basic('conftool', 'wrong') }),
      { kind: 'allow', user: undefined, authFailure: undefined }],
    ['a watch, logged as one', request('GET', '/v2/keys/conftool?wait=true&recursive=true'),
      { kind: 'allow', logged: { target: '/conftool', watch: true } }],
    ['the v3 gateway, handed to the v3 decision without a password check', request('POST', '/v3/kv/put', { authorization: basic('conftool', 'wrong') }),
      { kind: 'v3-gateway', request: { kind: 'endpoint', path: '/v3/kv/put' }, user: undefined, authFailure: undefined }],
    ['/v3beta, the same gateway on etcd 3.4', request('POST', '/v3beta/kv/range'), { kind: 'v3-gateway', request: { path: '/v3beta/kv/range' } }],
    ['the gateway after the limits', request('POST', '/v3/kv/put', { overConnectionCap: true }), { kind: 'refuse', label: 'denied-limit' }],
    ['the gateway after the parse: a non-canonical path is etcd\'s 301', request('POST', '/v3//kv/put'), { kind: 'redirect', location: '/v3/kv/put' }],
    ['the gateway after the declared body size', request('POST', '/v3/kv/put', { contentLength: '101' }), { kind: 'refuse', error: { status: 413 } }],
    ['an OPTIONS preflight on the gateway, v2\'s as before', request('OPTIONS', '/v3/kv/put'), { kind: 'allow' }],
    ['/v3alpha, which etcd 3.4 does not serve: admins only', request('POST', '/v3alpha/kv/put'), { kind: 'refuse', label: 'denied-auth', error: { status: 401 } }],
  ] as const)('%s', async (_name, inbound, expected) => {
    expect(await decide(inbound, runtime, services)).toMatchObject(expected);
  });

  it('logs an unparsable target without its credentials', async () => {
    const decision = await decide(request('PUT', 'http://root:pw@host/v2/keys/x?value=v'), runtime, services);
    expect(decision).toMatchObject({ kind: 'refuse', label: 'bad-request', logged: { target: 'http://[redacted]@host/v2/keys/x', query: 'value=v' } });
  });

  describe('on a replica', () => {
    it('refuses a read older than X-Etcd-Max-Staleness last, as an allowed request with a 503', async () => {
      replica = { ageSeconds: () => 12 };
      try {
        const stale = await decide(request('GET', '/v2/keys/conftool/x', { maxStaleness: '5' }), runtime, services);
        expect(stale).toMatchObject({ kind: 'refuse', label: 'allowed', error: { status: 503 }, reason: 'replica age 12.000 s exceeds X-Etcd-Max-Staleness 5 s' });
        expect(await decide(request('GET', '/v2/keys/conftool/x', { maxStaleness: '30' }), runtime, services)).toMatchObject({ kind: 'allow' });
        // The ACL still answers first: staleness only matters for what may be read.
        const write = await decide(request('PUT', '/v2/keys/conftool/x', { maxStaleness: '5' }), runtime, services);
        expect(write).toMatchObject({ kind: 'refuse', label: 'denied-auth' });
      } finally {
        replica = undefined;
      }
    });
  });
});
