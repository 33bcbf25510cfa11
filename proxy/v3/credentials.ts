// Who a v3 caller is. The proxy answers Auth.Authenticate itself, against
// the same htpasswd verifier as v2 (cached verification, bcrypt off the
// event loop) and the same failure limiter; etcd never sees a password or
// a token (it runs without auth behind us).
import type { FailedLoginLimit } from '../auth/failure-limiter.js';
import { parseBasicAuthorization } from '../auth/basic-auth.js';
import { VerifierPoolError } from '../auth/verifier-pool.js';
import type { CredentialVerifier } from '../auth/verifier.js';
import { authFailed, EtcdGrpcError, GrpcCode, tooManyRequests } from '../../mirror/etcd/v3/errors.js';
import type { V3Identity } from './decide.js';
import type { TokenIssuer } from './token.js';

export interface V3Credentials {
  readonly verifier: CredentialVerifier;
  readonly limiter: FailedLoginLimit;
  readonly tokens: TokenIssuer;
}

export type CheckedCredentials =
  | { readonly ok: true; readonly user: string }
  | { readonly ok: false; readonly error: EtcdGrpcError; readonly reason: string; readonly user: string };

/** One password check, counted by the failure limiter as v2's are. */
export async function checkPassword(user: string, password: string, clientAddress: string, credentials: V3Credentials): Promise<CheckedCredentials> {
  const limit = await credentials.limiter.check(clientAddress, user);
  if (!limit.allowed) return { ok: false, error: tooManyRequests(), reason: `too many failed authentications; retry after ${limit.retryAfterSeconds} s`, user };
  let verified: boolean;
  try {
    verified = await credentials.verifier.verify(user, password);
  } catch (error) {
    if (error instanceof VerifierPoolError) {
      return { ok: false, error: new EtcdGrpcError(GrpcCode.Unavailable, 'etcd-warden: password verification is busy, retry'), reason: error.message, user };
    }
    throw error;
  }
  if (!verified) {
    credentials.limiter.recordFailure(clientAddress, user);
    return { ok: false, error: authFailed(), reason: 'wrong user or password', user };
  }
  credentials.limiter.recordSuccess(clientAddress, user);
  return { ok: true, user };
}

export type AuthenticateOutcome =
  | { readonly ok: true; readonly user: string; readonly token: string }
  | { readonly ok: false; readonly error: EtcdGrpcError; readonly reason: string; readonly user: string };

/** Auth.Authenticate, answered by the proxy. */
export async function authenticateV3(name: string, password: string, clientAddress: string, credentials: V3Credentials): Promise<AuthenticateOutcome> {
  const checked = await checkPassword(name, password, clientAddress, credentials);
  if (!checked.ok) return checked;
  return { ok: true, user: checked.user, token: credentials.tokens.issue(checked.user) };
}

/** The caller of a gRPC call, from its `token` (or gateway-style `authorization`) metadata. */
export function identityFromToken(token: string | undefined, tokens: TokenIssuer): V3Identity {
  if (token === undefined || token === '') return { kind: 'anonymous' };
  const user = tokens.verify(token.replace(/^bearer\s+/i, ''));
  return user === undefined ? { kind: 'invalid-token' } : { kind: 'user', user };
}

/**
 * The caller of a gateway request: its Authorization header carries either
 * a token from /v3/auth/authenticate (etcd's way) or HTTP basic credentials
 * (ours, so curl and python-etcd3gw need no token dance).
 */
export async function identityFromAuthorization(
  header: string | undefined,
  clientAddress: string,
  credentials: V3Credentials,
): Promise<{ readonly identity: V3Identity } | { readonly refused: CheckedCredentials & { ok: false } }> {
  const basic = parseBasicAuthorization(header);
  if (basic.kind === 'malformed') {
    credentials.limiter.recordFailure(clientAddress, '');
    return { refused: { ok: false, error: authFailed(), reason: 'malformed basic credentials', user: '' } };
  }
  if (basic.kind === 'credentials') {
    const checked = await checkPassword(basic.user, basic.password, clientAddress, credentials);
    return checked.ok ? { identity: { kind: 'user', user: checked.user } } : { refused: checked };
  }
  return { identity: identityFromToken(header, credentials.tokens) };
}
