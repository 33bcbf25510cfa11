import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { GrpcCode } from '../../mirror/etcd/v3/errors.js';
import { FailedAuthLimiter } from '../../proxy/auth/failure-limiter.js';
import { parseHtpasswd } from '../../config/htpasswd.js';
import { CredentialVerifier } from '../../proxy/auth/verifier.js';
import { authenticateV3, identityFromAuthorization, identityFromToken, type V3Credentials } from '../../proxy/v3/credentials.js';
import { TokenIssuer } from '../../proxy/v3/token.js';

function credentials(maxFailures = 3): V3Credentials {
  const parsed = parseHtpasswd(`alice:{SHA}${createHash('sha1').update('secret').digest('base64')}\n`, 'test');
  if (!parsed.ok) throw new Error(parsed.errors.join());
  const table = parsed.table;
  return {
    verifier: new CredentialVerifier({ table, offThreadVerify: () => Promise.reject(new Error('inline only')) }),
    limiter: new FailedAuthLimiter({ maxFailures }),
    tokens: new TokenIssuer({ currentHash: (user) => table.get(user)?.hash }),
  };
}

describe('v3 authentication', () => {
  it('Authenticate gives a token for a right password and etcd\'s "authentication failed" for a wrong one', async () => {
    const creds = credentials();
    const good = await authenticateV3('alice', 'secret', '10.0.0.1', creds);
    expect(good.ok && identityFromToken(good.token, creds.tokens)).toEqual({ kind: 'user', user: 'alice' });
    expect(await authenticateV3('alice', 'nope', '10.0.0.1', creds)).toMatchObject({ ok: false, error: { code: GrpcCode.InvalidArgument, message: 'etcdserver: authentication failed, invalid user ID or password' } });
    expect(await authenticateV3('mallory', 'secret', '10.0.0.1', creds)).toMatchObject({ ok: false, error: { code: GrpcCode.InvalidArgument } });
  });

  it('slows repeated failures from one address with the v2 limiter: etcd\'s "too many requests", even for the right password', async () => {
    const creds = credentials(2);
    await authenticateV3('alice', 'guess1', '10.0.0.2', creds);
    await authenticateV3('alice', 'guess2', '10.0.0.2', creds);
    expect(await authenticateV3('alice', 'secret', '10.0.0.2', creds)).toMatchObject({ ok: false, error: { code: GrpcCode.ResourceExhausted, message: 'etcdserver: too many requests' } });
    expect((await authenticateV3('alice', 'secret', '10.0.0.3', creds)).ok).toBe(true);
  });

  it('reads the gateway\'s Authorization header: a token (with or without "Bearer"), or basic credentials', async () => {
    const creds = credentials();
    const token = creds.tokens.issue('alice');
    const basic = `Basic ${Buffer.from('alice:secret').toString('base64')}`;
    expect(await identityFromAuthorization(token, '10.0.0.4', creds)).toEqual({ identity: { kind: 'user', user: 'alice' } });
    expect(await identityFromAuthorization(`Bearer ${token}`, '10.0.0.4', creds)).toEqual({ identity: { kind: 'user', user: 'alice' } });
    expect(await identityFromAuthorization(basic, '10.0.0.4', creds)).toEqual({ identity: { kind: 'user', user: 'alice' } });
    expect(await identityFromAuthorization(undefined, '10.0.0.4', creds)).toEqual({ identity: { kind: 'anonymous' } });
    expect(await identityFromAuthorization('not-a-token', '10.0.0.4', creds)).toEqual({ identity: { kind: 'invalid-token' } });
    expect(await identityFromAuthorization(`Basic ${Buffer.from('alice:wrong').toString('base64')}`, '10.0.0.4', creds)).toMatchObject({ refused: { error: { code: GrpcCode.InvalidArgument } } });
    expect(await identityFromAuthorization('Basic !!!', '10.0.0.4', creds)).toMatchObject({ refused: { reason: 'malformed basic credentials' } });
  });
});
