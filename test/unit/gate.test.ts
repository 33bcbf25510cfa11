import { describe, expect, it } from 'vitest';
import { compileAcl } from '../../proxy/acl.js';
import { authorize, gate, type AccessPolicy, type Identity } from '../../proxy/gate.js';
import { parseEtcdRequest } from '../../proxy/request.js';

const policy: AccessPolicy = {
  readOnly: false,
  writeAcl: compileAcl({
    '/': ['root'],
    '/conftool': ['root', 'conftool'],
    '/conftool/locked': ['root'],
    '/eventlogging': [],
    '/open': [],
  }),
  readAcl: compileAcl({ '/secret': ['root'] }),
  admins: new Set(['root']),
};

const anonymous: Identity = { kind: 'anonymous' };
const user = (name: string): Identity => ({ kind: 'user', user: name });

function decide(method: string, target: string, identity: Identity, p: AccessPolicy = policy) {
  const parsed = parseEtcdRequest(method, target, false);
  if (!parsed.ok) throw new Error('unexpected early answer');
  return authorize(gate(parsed.request, p), identity);
}

describe('write ACLs', () => {
  const table: Array<[string, string, Identity, string]> = [
    ['PUT', '/v2/keys/conftool/x', user('conftool'), 'allowed'],
    ['PUT', '/v2/keys/conftool', user('conftool'), 'denied-auth'], // /conftool/locked lies below
    ['PUT', '/v2/keys/conftoolx', user('conftool'), 'denied-auth'], // segment boundary: falls to "/"
    ['PUT', '/v2/keys/conftoolx', user('root'), 'allowed'],
    ['PUT', '/v2/keys/conftool/x', anonymous, 'denied-auth'],
    ['PUT', '/v2/keys/conftool/x', { kind: 'rejected' }, 'denied-auth'],
    ['PUT', '/v2/keys/conftool/locked/k', user('conftool'), 'denied-auth'],
    ['DELETE', '/v2/keys/conftool?recursive=true', user('root'), 'allowed'],
    ['DELETE', '/v2/keys/conftool?recursive=true', user('conftool'), 'denied-auth'],
    ['PUT', '/v2/keys/eventlogging/x', anonymous, 'allowed'],
    ['POST', '/v2/keys/eventlogging/queue', anonymous, 'allowed'],
    ['PUT', '/v2/keys/eventloggingx', anonymous, 'denied-auth'],
    ['DELETE', '/v2/keys/?recursive=true', user('conftool'), 'denied-auth'],
    ['PATCH', '/v2/keys/eventlogging/x', anonymous, 'bad-request'],
  ];
  it.each(table)('%s %s as %j is %s', (method, target, identity, label) => {
    expect(decide(method, target, identity).label).toBe(label);
  });

  it('denies writes no rule covers, whoever asks', () => {
    const narrow: AccessPolicy = { ...policy, writeAcl: compileAcl({ '/only': [] }) };
    expect(decide('PUT', '/v2/keys/elsewhere', user('root'), narrow)).toMatchObject({ label: 'denied-acl', error: { status: 403 } });
  });

  it('answers 401 with the production body and challenge', () => {
    expect(decide('PUT', '/v2/keys/conftool/x', anonymous)).toEqual({
      kind: 'deny',
      label: 'denied-auth',
      error: {
        status: 401,
        headers: { 'www-authenticate': 'Basic realm="etcd"' },
        body: { errorCode: 110, message: 'The request requires user authentication', cause: 'Insufficient credentials', index: 0 },
      },
    });
  });
});

describe('reads', () => {
  it('are anonymous unless a read rule covers the key or lies below it', () => {
    expect(decide('GET', '/v2/keys/conftool/x?wait=true', anonymous).label).toBe('allowed');
    expect(decide('GET', '/v2/keys/secret/x', anonymous).label).toBe('denied-auth');
    expect(decide('GET', '/v2/keys/?recursive=true', anonymous).label).toBe('denied-auth');
    expect(decide('GET', '/v2/keys/secret/x', user('root'))).toEqual({ kind: 'allow', label: 'allowed', user: 'root' });
  });
});

describe('read-only switch', () => {
  const readOnly = { ...policy, readOnly: true };
  it.each(['PUT', 'POST', 'DELETE', 'PATCH'])('refuses %s with the production 403 body, before any ACL', (method) => {
    expect(decide(method, '/v2/keys/eventlogging/x', user('root'), readOnly)).toEqual({
      kind: 'deny',
      label: 'denied-readonly',
      error: { status: 403, body: { errorCode: 107, message: 'This cluster is in read-only mode', cause: 'Cluster configured to be read-only', index: 0 } },
    });
  });
  it('refuses mutations outside /v2/keys too', () => {
    expect(decide('POST', '/v2/members', user('root'), readOnly).label).toBe('denied-readonly');
  });
  it.each(['GET', 'HEAD', 'OPTIONS'])('lets %s through', (method) => {
    expect(decide(method, '/v2/keys/conftool/x', anonymous, readOnly).label).toBe('allowed');
  });
});

describe('endpoints outside /v2/keys', () => {
  const table: Array<[string, string, Identity, string]> = [
    ['GET', '/version', anonymous, 'allowed'],
    ['GET', '/health', anonymous, 'allowed'],
    ['GET', '/metrics', anonymous, 'allowed'],
    ['GET', '/v2/members', anonymous, 'allowed'],
    ['GET', '/v2/members/leader', anonymous, 'allowed'],
    ['GET', '/v2/machines', anonymous, 'allowed'],
    ['GET', '/v2/stats/self', anonymous, 'allowed'],
    ['POST', '/v2/members', anonymous, 'denied-auth'],
    ['POST', '/v2/members', user('conftool'), 'denied-auth'],
    ['POST', '/v2/members', user('root'), 'allowed'],
    ['DELETE', '/v2/members/8e9e05c52164694d', anonymous, 'denied-auth'],
    ['PUT', '/v2/auth/users/root', anonymous, 'denied-auth'],
    ['GET', '/v2/auth/users', anonymous, 'denied-auth'],
    ['PUT', '/config/local/log', anonymous, 'denied-auth'],
    // The gateway is decided by the v3 rules (decide.ts hands it over); the gate alone never lets it through.
    ['POST', '/v3/kv/put', anonymous, 'denied-auth'],
    ['POST', '/v3alpha/kv/put', anonymous, 'denied-auth'],
    ['POST', '/v3alpha/kv/put', user('root'), 'allowed'],
    ['GET', '/debug/pprof/profile', anonymous, 'denied-auth'],
    ['GET', '/', anonymous, 'denied-acl'],
    ['GET', '/v2/keysfoo', anonymous, 'denied-acl'],
  ];
  it.each(table)('%s %s as %j is %s', (method, target, identity, label) => {
    expect(decide(method, target, identity).label).toBe(label);
  });
  it('answers unknown paths 404', () => {
    expect(decide('GET', '/nope', anonymous)).toMatchObject({ error: { status: 404 } });
  });
});
