// The v3 JSON gateway on HTTP/1.1 (POST /v3/..., and /v3beta/... which etcd
// 3.4 serves as the same), decided like gRPC: the body is read as etcd's
// gateway will read it (gateway-message.ts), every message of it judged by
// the same rules, and what is forwarded is JSON we write from the messages
// we judged, to the canonical /v3/ path. A streamed body (watch,
// keep-alive) may hold several requests one after the other, as the
// gateway reads them; each is judged, and one refusal refuses the request.
//
// decideGatewayRequest is what the HTTP/1 wiring calls: (path, the
// Authorization header, body bytes) -> an answer to send, or the exact path
// and bytes to forward.
import { EtcdGrpcError, GrpcCode, type GrpcCodeNumber } from '../../mirror/etcd/v3/errors.js';
import { describeKeyRange } from '../../mirror/etcd/v3/key-range.js';
import { newCallRecord, type V3CallRecord } from './access.js';
import { authenticateV3, identityFromAuthorization, type V3Credentials } from './credentials.js';
import { decide, type AttachedKeys, type V3Decision, type V3DecisionLabel, type V3Policy } from './decide.js';
import { parseFirstJsonValue, parseJsonValues, JsonSyntaxError, type JsonValue } from './gateway-json.js';
import { canonicalJson, GatewayMessageError, messageObject } from './gateway-message.js';
import { etcdMethods, type EtcdMethod } from './methods.js';
import { requirementsOf, unknownMethodRequirements } from './requirements.js';
import type { LeaseLookup } from './lease-keys.js';

export type GatewayRoute =
  | { readonly kind: 'method'; readonly method: EtcdMethod; readonly path: string }
  /**
   * etcd's lock and election gateways, and any path the .proto files do not
   * name: admins only, bytes passed as sent (etcd answers 404 for what it
   * does not serve).
   */
  | { readonly kind: 'admin-only'; readonly path: string };

/** The route for a gateway path (/v3/… or /v3beta/…, query ignored), which etcd 3.4 serves as the same /v3/ path. */
export function gatewayRoute(rawPath: string): GatewayRoute {
  const path = rawPath.split('?', 1)[0] ?? '';
  const canonical = path.startsWith('/v3beta/') ? `/v3/${path.slice('/v3beta/'.length)}` : path;
  const method = etcdMethods().byGatewayPath.get(canonical);
  return method === undefined ? { kind: 'admin-only', path: canonical } : { kind: 'method', method, path: canonical };
}

export interface GatewayRequest {
  readonly path: string;
  readonly authorization: string | undefined;
  readonly remote: string;
  readonly body: Buffer;
}

export type GatewayOutcome =
  | { readonly kind: 'answer'; readonly status: number; readonly contentType: string; readonly body: string; readonly record: V3CallRecord }
  | { readonly kind: 'forward'; readonly path: string; readonly body: Buffer; readonly record: V3CallRecord };

export interface GatewayDependencies {
  readonly credentials: V3Credentials;
  readonly policy: V3Policy;
  readonly lookUp: LeaseLookup;
}

// grpc-gateway v1's HTTPStatusFromCode, measured on etcd 3.4.23 where it matters (412 for FailedPrecondition).
const httpStatusOf: Readonly<Record<GrpcCodeNumber, number>> = {
  0: 200, 1: 408, 2: 500, 3: 400, 4: 504, 5: 404, 6: 409, 7: 403, 8: 429, 9: 412, 10: 409, 11: 400, 12: 501, 13: 500, 14: 503, 15: 500, 16: 401,
};

/** The gateway's error body: {"error","message","code"}, as etcd 3.4 writes it. */
function errorAnswer(error: EtcdGrpcError, record: V3CallRecord, label: V3DecisionLabel, reason: string): GatewayOutcome {
  record.decision = label;
  record.reason = reason;
  record.grpcStatus = error.code;
  // SPEC §5: the read-only switch answers 403 on the gateway, like v2's.
  const status = label === 'denied-readonly' ? 403 : httpStatusOf[error.code];
  return { kind: 'answer', status, contentType: 'application/json', body: JSON.stringify({ error: error.message, message: error.message, code: error.code }), record };
}

export async function decideGatewayRequest(request: GatewayRequest, route: GatewayRoute, deps: GatewayDependencies): Promise<GatewayOutcome> {
  const streamed = route.kind === 'method' && route.method.requestStream;
  const record = newCallRecord('gateway', route.kind === 'method' ? route.method.name : route.path, request.remote, streamed);
  const text = request.body.toString('utf8');

  if (route.kind === 'method' && route.method.name === 'Auth/Authenticate') return answerAuthenticate(route.method, text, request, record, deps);

  const who = await identityFromAuthorization(request.authorization, request.remote, deps.credentials);
  if ('refused' in who) return errorAnswer(who.refused.error, record, 'denied-auth', who.refused.reason);
  record.user = who.identity.kind === 'user' ? who.identity.user : undefined;

  if (route.kind === 'admin-only') {
    const decision = decide(unknownMethodRequirements(), who.identity, deps.policy);
    if (decision.kind === 'deny') return errorAnswer(decision.error, record, decision.label, decision.reason);
    return { kind: 'forward', path: route.path, body: request.body, record };
  }

  const { method } = route;
  let values: (JsonValue | undefined)[];
  try {
    values = method.requestStream ? parseJsonValues(text) : [parseFirstJsonValue(text)];
  } catch (error) {
    if (!(error instanceof JsonSyntaxError)) throw error;
    return errorAnswer(new EtcdGrpcError(GrpcCode.InvalidArgument, error.message), record, 'bad-request', error.message);
  }
  const forwarded: string[] = [];
  for (const value of values) {
    let object: Record<string, unknown>;
    try {
      object = messageObject(method.requestType, value);
    } catch (error) {
      if (!(error instanceof GatewayMessageError)) throw error;
      return errorAnswer(new EtcdGrpcError(GrpcCode.InvalidArgument, error.message), record, 'bad-request', error.message);
    }
    const message = method.requestType.fromObject(object);
    const view = method.requestType.toObject(message, { longs: String, enums: Number, defaults: true, oneofs: false });
    const needs = requirementsOf(method.name, view);
    record.messages++;
    if (record.target === '') record.target = [...needs.writes, ...needs.reads].map(describeKeyRange).join(' ');
    let decision: V3Decision = decide(needs, who.identity, deps.policy);
    if (decision.kind === 'lookup') {
      let attached: AttachedKeys;
      try {
        attached = await deps.lookUp(decision);
      } catch (error) {
        const unavailable = error instanceof EtcdGrpcError ? error : new EtcdGrpcError(GrpcCode.Unavailable, String(error));
        return errorAnswer(unavailable, record, 'denied-acl', `lease lookup failed: ${unavailable.message}`);
      }
      decision = decide(needs, who.identity, deps.policy, attached);
    }
    if (decision.kind === 'deny') {
      record.deniedMessages++;
      if (method.name === 'Watch/Watch' && decision.label === 'denied-acl') return refusedWatch(decision, record);
      return errorAnswer(decision.error, record, decision.label, decision.reason);
    }
    if (decision.kind === 'lookup') throw new Error('a decision asked for a second lookup');
    forwarded.push(canonicalJson(method.requestType, message));
  }
  return { kind: 'forward', path: route.path, body: Buffer.from(forwarded.join('\n'), 'utf8'), record };
}

/** etcd's own answer to a refused watch, as its gateway streams it. */
function refusedWatch(decision: V3Decision & { kind: 'deny' }, record: V3CallRecord): GatewayOutcome {
  record.decision = decision.label;
  record.reason = decision.reason;
  record.grpcStatus = GrpcCode.Ok;
  const result = { result: { header: {}, watch_id: '-1', created: true, canceled: true, cancel_reason: decision.error.message } };
  return { kind: 'answer', status: 200, contentType: 'application/json', body: `${JSON.stringify(result)}\n`, record };
}

async function answerAuthenticate(method: EtcdMethod, text: string, request: GatewayRequest, record: V3CallRecord, deps: GatewayDependencies): Promise<GatewayOutcome> {
  let object: Record<string, unknown>;
  try {
    object = messageObject(method.requestType, parseFirstJsonValue(text));
  } catch (error) {
    if (!(error instanceof JsonSyntaxError || error instanceof GatewayMessageError)) throw error;
    return errorAnswer(new EtcdGrpcError(GrpcCode.InvalidArgument, error.message), record, 'bad-request', error.message);
  }
  const name = typeof object.name === 'string' ? object.name : '';
  const password = typeof object.password === 'string' ? object.password : '';
  record.user = name;
  const outcome = await authenticateV3(name, password, request.remote, deps.credentials);
  if (!outcome.ok) return errorAnswer(outcome.error, record, 'denied-auth', outcome.reason);
  record.grpcStatus = GrpcCode.Ok;
  return { kind: 'answer', status: 200, contentType: 'application/json', body: JSON.stringify({ header: {}, token: outcome.token }), record };
}
