// What a parsed request needs, by SPEC §1's rules in their order, as pure
// functions: read-only → reads → write ACL → non-key endpoints. `gate` says
// what a request needs (a verdict now, or a user it must authenticate as);
// `authorize` turns that plus the proven identity into the verdict. Neither
// touches the network; decide.ts runs them between the other stages.
import { subtreeRequirement, userSatisfies, type Acl } from './acl.js';
import { endpointPolicy } from './endpoints.js';
import { forbiddenError, methodNotAllowedError, notFoundError, unauthorizedError, type ProxyError } from './errors.js';
import { readOnlyGate } from './readonly.js';
import { isReadMethod, type EtcdRequest } from './request.js';

/**
 * How the access log and the metrics name a decision. `denied-limit`: a
 * resource limit (connections, header fields, request line) refused the
 * request before any other stage (decide.ts).
 */
export type DecisionLabel = 'allowed' | 'denied-auth' | 'denied-readonly' | 'denied-acl' | 'denied-limit' | 'bad-request';

export interface AccessPolicy {
  readonly readOnly: boolean;
  readonly writeAcl: Acl;
  /** Optional: reads are anonymous where no read rule covers the key. */
  readonly readAcl: Acl;
  readonly admins: ReadonlySet<string>;
}

export type Verdict =
  | { readonly kind: 'allow'; readonly label: 'allowed'; readonly user?: string }
  | { readonly kind: 'deny'; readonly label: DecisionLabel; readonly error: ProxyError };

/**
 * What a request needs, whatever its protocol: a verdict already, or a user
 * the client must prove to be. The v2 gate below makes one from an
 * EtcdRequest; authentication and authorisation (decide.ts) only read this.
 */
export type GateResult =
  | Verdict
  | {
      readonly kind: 'authenticate';
      /** Whether a verified user may go ahead. */
      readonly permits: (user: string) => boolean;
      /** Why a verified user outside the lists is refused, for the log. */
      readonly needs: string;
    };

/** Who the client proved to be; `rejected` covers a wrong password and a malformed header. */
export type Identity = { readonly kind: 'anonymous' } | { readonly kind: 'rejected' } | { readonly kind: 'user'; readonly user: string };

const keysMethods = ['GET', 'HEAD', 'OPTIONS', 'PUT', 'POST', 'DELETE'];
const allow: Verdict = { kind: 'allow', label: 'allowed' };

export function gate(request: EtcdRequest, policy: AccessPolicy): GateResult {
  const readOnly = readOnlyGate(policy.readOnly, request.method);
  if (readOnly !== undefined) return { kind: 'deny', label: 'denied-readonly', error: readOnly };

  if (request.kind === 'keys') {
    if (!keysMethods.includes(request.method)) {
      return { kind: 'deny', label: 'bad-request', error: methodNotAllowedError(request.method, keysMethods) };
    }
    if (request.method === 'OPTIONS') return allow;
    const reading = isReadMethod(request.method);
    const requirement = reading ? subtreeRequirement(policy.readAcl, request.key, 'open') : subtreeRequirement(policy.writeAcl, request.key, 'no-rule');
    switch (requirement.kind) {
      case 'open':
        return allow;
      case 'no-rule':
        return { kind: 'deny', label: 'denied-acl', error: forbiddenError(`No ACL rule allows writes to ${request.key}`) };
      case 'users':
        return {
          kind: 'authenticate',
          permits: (user) => userSatisfies(requirement, user),
          needs: `a user allowed by the ACL rules ${requirement.prefixes.join(', ')}`,
        };
    }
  }

  const endpoint = endpointPolicy(request.path);
  if (endpoint.kind === 'unknown') return { kind: 'deny', label: 'denied-acl', error: notFoundError(request.path) };
  if (request.method === 'OPTIONS') return allow;
  if (endpoint.kind === 'anonymous-read' && (request.method === 'GET' || request.method === 'HEAD')) return allow;
  return { kind: 'authenticate', permits: (user) => policy.admins.has(user), needs: 'an admin' };
}

export function authorize(result: GateResult, identity: Identity): Verdict {
  if (result.kind !== 'authenticate') return result;
  if (identity.kind === 'user' && result.permits(identity.user)) return { kind: 'allow', label: 'allowed', user: identity.user };
  return { kind: 'deny', label: 'denied-auth', error: unauthorizedError() };
}
