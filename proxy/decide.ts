// The whole request decision, in SPEC §1's order, in one place:
//   0. limits        limits.ts        connection cap, header fields
//   1. parse         request.ts       decode once, clean as Go does (301, 400); request line and body size
//      the v3 JSON gateway (/v3/…, /v3beta/…) leaves here: its decision reads the
//      body's messages (proxy/v3/gateway.ts), by the v3 rules, as gRPC's does
//   2. gate          gate.ts          read-only, ACLs, endpoints: a verdict, or the user it needs
//   3. authenticate  authenticate.ts  only when the gate asks: basic auth, failure limiter, verifier
//   4. authorize     gate.ts          the proven identity against what the gate asked for
//   5. staleness     staleness.ts     on a replica, X-Etcd-Max-Staleness against the heartbeat's age
// and one Decision out: allow (with the parsed request and the user), refuse
// (an etcd-style error), redirect, or v3-gateway (limits and parse passed; the
// v3 decision follows on the body), each with its access-log label and
// reason. No fastify, no sockets: server.ts hands in what it read off the
// request and writes the answer.
//
// Stages 3 and 4 take what the gate asked for (a GateResult), never an HTTP
// request, so a second protocol (v3 gRPC, the v3 JSON gateway) runs them in
// the same order from its own parse and gate: authenticateAndAuthorize().
import type { FailedLoginLimit } from './auth/failure-limiter.js';
import type { CredentialVerifier } from './auth/verifier.js';
import { authenticate } from './authenticate.js';
import { endpointPolicy } from './endpoints.js';
import { badRequestError, payloadTooLargeError, type ProxyError } from './errors.js';
import { authorize, gate, type DecisionLabel, type GateResult, type Identity } from './gate.js';
import { connectionAndHeaderLimits, declaredLengthExceeds, upstreamRequestLineTooLong, uriTooLongError } from './limits.js';
import { isReadMethod, loggableTarget, parseEtcdRequest, type EtcdRequest, type ParsedRequest } from './request.js';
import type { Runtime } from './runtime.js';
import { stalenessGate } from './staleness.js';

/** What the decision reads of one HTTP request, taken off it by server.ts. */
export interface InboundRequest {
  readonly method: string;
  /** The request target exactly as sent. */
  readonly target: string;
  readonly upgrade: boolean;
  readonly headerCount: number;
  /** The connection was accepted over limits.maxConnections (counted by the listener). */
  readonly overConnectionCap: boolean;
  readonly contentLength: string | undefined;
  readonly authorization: string | undefined;
  readonly maxStaleness: string | string[] | undefined;
  /** The client's address: the failed-login limiter counts by it. */
  readonly remote: string;
}

/** The credentials stages 3 and 4 need, whatever carried them. */
export interface Credentials {
  readonly authorization: string | undefined;
  readonly remote: string;
}

/** A replica's view of the primary's heartbeat. */
export interface ReplicaClock {
  /** Seconds behind the primary; undefined before the first heartbeat. */
  ageSeconds(): number | undefined;
}

/** What stages 3 and 4 need, whatever the protocol. */
export interface AuthServices {
  readonly verifier: CredentialVerifier;
  readonly limiter: FailedLoginLimit;
}

export interface DecisionServices extends AuthServices {
  /** The heartbeat this proxy follows, when it is a replica. */
  readonly replica: () => ReplicaClock | undefined;
}

/** The label of etcd_warden_auth_failures_total. */
export type AuthFailureReason = 'no-credentials' | 'bad-credentials' | 'not-permitted' | 'rate-limited' | 'verifier-busy';

/** What the access log names: the key (or endpoint path) etcd would act on, or the raw target when it could not be parsed. */
export interface LoggedTarget {
  readonly target: string;
  readonly query: string;
  readonly watch: boolean;
}

interface Told {
  readonly logged: LoggedTarget;
  readonly label: DecisionLabel;
  /** Why it was refused, for the operator; undefined when the label says it all. */
  readonly reason: string | undefined;
  /** Who the client proved to be, or claimed to be when the password was wrong. */
  readonly user: string | undefined;
  readonly authFailure: AuthFailureReason | undefined;
}

export type Decision =
  | (Told & { readonly kind: 'allow'; readonly request: EtcdRequest })
  | (Told & { readonly kind: 'refuse'; readonly error: ProxyError })
  | (Told & { readonly kind: 'redirect'; readonly location: string })
  /** A v3 gateway request: the v3 decision, on its body, is still to come. */
  | (Told & { readonly kind: 'v3-gateway'; readonly request: EtcdRequest });

/** Stages 3 and 4, as any protocol runs them: allow with the user, or the refusal to send. */
export type AccessOutcome =
  | { readonly kind: 'allow'; readonly user: string | undefined }
  | {
      readonly kind: 'refuse';
      readonly label: DecisionLabel;
      readonly error: ProxyError;
      readonly reason: string | undefined;
      readonly user: string | undefined;
      readonly authFailure: AuthFailureReason | undefined;
    };

export async function decide(inbound: InboundRequest, runtime: Runtime, services: DecisionServices): Promise<Decision> {
  const parsed = parseEtcdRequest(inbound.method, inbound.target, inbound.upgrade);
  const logged = loggedTarget(parsed, inbound.target);
  const refuse = (label: DecisionLabel, error: ProxyError, reason: string | undefined): Decision => ({
    kind: 'refuse', logged, label, error, reason, user: undefined, authFailure: undefined,
  });

  const limited = connectionAndHeaderLimits(inbound, runtime.limits);
  if (limited !== undefined) return refuse('denied-limit', limited.error, limited.reason);

  if (!parsed.ok) {
    if (parsed.answer.kind === 'redirect') {
      return { kind: 'redirect', location: parsed.answer.location, logged, label: 'bad-request', reason: 'non-canonical path, redirected as etcd would', user: undefined, authFailure: undefined };
    }
    return refuse('bad-request', badRequestError(parsed.answer.reason), parsed.answer.reason);
  }
  const request = parsed.request;
  if (upstreamRequestLineTooLong(request.method, request.upstreamPath + (request.query === '' ? '' : '?' + request.query))) {
    return refuse('denied-limit', uriTooLongError(), 'request line too long for etcd');
  }
  if (declaredLengthExceeds(inbound.contentLength, runtime.maxBodyBytes)) return refuse('bad-request', payloadTooLargeError(runtime.maxBodyBytes), undefined);
  // OPTIONS stays v2's (a CORS preflight etcd answers without acting); the
  // read-only switch and the ACLs of the gateway are the v3 decision's.
  if (request.kind === 'endpoint' && request.method !== 'OPTIONS' && endpointPolicy(request.path).kind === 'v3') {
    return { kind: 'v3-gateway', request, logged, label: 'allowed', reason: undefined, user: undefined, authFailure: undefined };
  }

  const access = await authenticateAndAuthorize(gate(request, runtime.policy), inbound, services);
  if (access.kind === 'refuse') return { ...access, logged };

  const replica = services.replica();
  if (replica !== undefined && request.kind === 'keys' && isReadMethod(request.method)) {
    const stale = stalenessGate(inbound.maxStaleness, replica.ageSeconds());
    // Not an access decision: the request was allowed, the replica's data is too old.
    if (stale !== undefined) return { kind: 'refuse', logged, label: 'allowed', error: stale, reason: stale.body.cause, user: access.user, authFailure: undefined };
  }
  return { kind: 'allow', request, logged, label: 'allowed', reason: undefined, user: access.user, authFailure: undefined };
}

/** Stages 3 and 4: a password is checked only when the gate asks for a user. */
export async function authenticateAndAuthorize(needs: GateResult, credentials: Credentials, services: AuthServices): Promise<AccessOutcome> {
  let identity: Identity = { kind: 'anonymous' };
  let claimedUser: string | undefined;
  if (needs.kind === 'authenticate') {
    const outcome = await authenticate(credentials.authorization, credentials.remote, services.verifier, services.limiter);
    if (outcome.kind === 'refused') {
      return { kind: 'refuse', label: 'denied-auth', error: outcome.error, reason: outcome.reason, user: undefined, authFailure: outcome.reason };
    }
    identity = outcome.identity;
    claimedUser = identity.kind === 'user' ? identity.user : outcome.claimedUser;
  }
  const verdict = authorize(needs, identity);
  if (verdict.kind === 'allow') return { kind: 'allow', user: claimedUser };
  if (verdict.label !== 'denied-auth') {
    return { kind: 'refuse', label: verdict.label, error: verdict.error, reason: verdict.error.body.cause, user: claimedUser, authFailure: undefined };
  }
  const failure: AuthFailureReason = identity.kind === 'anonymous' ? 'no-credentials' : identity.kind === 'rejected' ? 'bad-credentials' : 'not-permitted';
  const reason = needs.kind === 'authenticate' && identity.kind === 'user' ? `${failure}: needs ${needs.needs}` : failure;
  return { kind: 'refuse', label: 'denied-auth', error: verdict.error, reason, user: claimedUser, authFailure: failure };
}

function loggedTarget(parsed: ParsedRequest, rawTarget: string): LoggedTarget {
  if (!parsed.ok) return { ...loggableTarget(rawTarget), watch: false };
  const request = parsed.request;
  return request.kind === 'keys' ? { target: request.key, query: request.query, watch: request.watch } : { target: request.path, query: request.query, watch: false };
}
