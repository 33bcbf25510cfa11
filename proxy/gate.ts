// The request decision of SPEC §1, in its order, as pure functions:
// normalised request → read-only → reads → write ACL → non-key endpoints.
// `gate` says what a request needs; `authorize` turns that plus the verified
// identity into the final decision. Neither touches the network.
import { subtreeRequirement, userSatisfies, type Acl } from './acl.js';
import { endpointPolicy } from './endpoints.js';
import { forbiddenError, methodNotAllowedError, notFoundError, unauthorizedError, type ProxyError } from './errors.js';
import { readOnlyGate } from './readonly.js';
import { isReadMethod, type EtcdRequest } from './request.js';

/** `denied-limit`: a resource limit (connections, header fields) refused the request before any decision. */
export type DecisionLabel = 'allowed' | 'denied-auth' | 'denied-readonly' | 'denied-acl' | 'denied-limit' | 'bad-request';

export interface AccessPolicy {
  readonly readOnly: boolean;
  readonly writeAcl: Acl;
  /** Optional: reads are anonymous where no read rule covers the key. */
  readonly readAcl: Acl;
  readonly admins: ReadonlySet<string>;
}

export type Decision =
  | { readonly kind: 'allow'; readonly label: 'allowed'; readonly user?: string }
  | { readonly kind: 'deny'; readonly label: DecisionLabel; readonly error: ProxyError };

export type GateResult =
  | Decision
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
const allow: Decision = { kind: 'allow', label: 'allowed' };

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

export function authorize(result: GateResult, identity: Identity): Decision {
  if (result.kind !== 'authenticate') return result;
  if (identity.kind === 'user' && result.permits(identity.user)) return { kind: 'allow', label: 'allowed', user: identity.user };
  return { kind: 'deny', label: 'denied-auth', error: unauthorizedError() };
}
