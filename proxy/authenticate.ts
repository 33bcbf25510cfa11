// Turns an Authorization header into an Identity, paying for a password check
// only when the gate says the request needs one. A credential the proxy has
// already verified is never refused by the failure limiter: a neighbour
// guessing from the same host once blocked every write of a correct script
// there (429 for 60 s, which python-etcd's urllib3 honours). Only
// verifications of credentials not yet proven count and can get 429, per
// address and per user (auth/failure-limiter.ts).
import type { FailedLoginLimit } from './auth/failure-limiter.js';
import { parseBasicAuthorization } from './auth/basic-auth.js';
import { VerifierPoolError } from './auth/verifier-pool.js';
import type { CredentialVerifier } from './auth/verifier.js';
import { serviceUnavailableError, tooManyFailuresError, type ProxyError } from './errors.js';
import type { Identity } from './gate.js';

export type AuthenticationOutcome =
  | { readonly kind: 'identity'; readonly identity: Identity; readonly claimedUser?: string }
  | { readonly kind: 'refused'; readonly error: ProxyError; readonly reason: 'rate-limited' | 'verifier-busy' };

export async function authenticate(
  header: string | undefined,
  clientAddress: string,
  verifier: CredentialVerifier,
  limiter: FailedLoginLimit,
): Promise<AuthenticationOutcome> {
  const parsed = parseBasicAuthorization(header);
  if (parsed.kind === 'none') return { kind: 'identity', identity: { kind: 'anonymous' } };
  if (parsed.kind === 'malformed') {
    limiter.recordFailure(clientAddress, '');
    return { kind: 'identity', identity: { kind: 'rejected' } };
  }
  const proven = verifier.isProven(parsed.user, parsed.password);
  if (!proven) {
    const limit = await limiter.check(clientAddress, parsed.user);
    if (!limit.allowed) return { kind: 'refused', error: tooManyFailuresError(limit.retryAfterSeconds), reason: 'rate-limited' };
  }
  let verified: boolean;
  try {
    verified = await verifier.verify(parsed.user, parsed.password);
  } catch (error) {
    if (error instanceof VerifierPoolError) {
      return { kind: 'refused', error: serviceUnavailableError(`password verification unavailable: ${error.message}`), reason: 'verifier-busy' };
    }
    throw error;
  }
  if (!verified) {
    limiter.recordFailure(clientAddress, parsed.user);
    return { kind: 'identity', identity: { kind: 'rejected' }, claimedUser: parsed.user };
  }
  // A first login forgives its own typos; a script reusing a proven
  // credential must not wipe the failures of a neighbour guessing as the
  // same user from the same host, or that neighbour would never be slowed.
  if (!proven) limiter.recordSuccess(clientAddress, parsed.user);
  return { kind: 'identity', identity: { kind: 'user', user: parsed.user } };
}
