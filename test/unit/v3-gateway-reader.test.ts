import { describe, expect, it } from 'vitest';
import { parseFirstJsonValue, parseJsonValues } from '../../proxy/v3/gateway-json.js';
import { canonicalJson, goEnumName, jsonNameOf, messageObject } from '../../proxy/v3/gateway-message.js';
import { gatewayRoute } from '../../proxy/v3/gateway.js';
import { etcdMethods } from '../../proxy/v3/methods.js';

const typeOf = (name: string) => {
  const method = [...etcdMethods().byPath.values()].find((m) => m.name === name);
  if (method === undefined) throw new Error(name);
  return method.requestType;
};
const read = (methodName: string, body: string): Record<string, unknown> => messageObject(typeOf(methodName), parseFirstJsonValue(body));
const b64 = (text: string): string => Buffer.from(text, 'latin1').toString('base64');
const key = (object: Record<string, unknown>, field = 'key'): string => (Buffer.isBuffer(object[field]) ? (object[field] as Buffer).toString('latin1') : 'not bytes');

// Each row was measured against etcd 3.4.23's gateway (research notes and this task's probe).
describe('reading a gateway body as etcd 3.4 does', () => {
  it.each<[string, string, string]>([
    ['padded standard base64', `{"key":"${b64('/conftool/a')}"}`, '/conftool/a'],
    ['\\r and \\n inside base64 are skipped', `{"key":"L2Nvbm\\nZ0b29s\\r\\neA=="}`, '/conftoolx'],
    ['a JSON escape inside base64 is decoded first', `{"key":"L2NvbmZ0b29seA\\u003d\\u003d"}`, '/conftoolx'],
    ['the last of two "key" fields wins', `{"key":"${b64('/conftool/a')}","key":"${b64('/other')}"}`, '/other'],
    ['bytes as an array of numbers', '{"key":[47,120]}', '/x'],
    ['"Key" is another field, ignored', `{"key":"${b64('/a')}","Key":"${b64('/b')}"}`, '/a'],
  ])('%s', (_name, body, expected) => {
    expect(key(read('KV/Range', body))).toBe(expected);
  });

  it('null leaves the default (the last "key" null: no key, which etcd refuses)', () => {
    expect(read('KV/Range', `{"key":"${b64('/a')}","key":null}`).key).toBeUndefined();
  });

  it.each<[string, string]>([
    ['range_end then rangeEnd', `{"key":"${b64('/a')}","range_end":"","rangeEnd":"AA=="}`],
    ['rangeEnd then range_end', `{"key":"${b64('/a')}","rangeEnd":"AA==","range_end":""}`],
  ])('rangeEnd wins over range_end: %s', (_name, body) => {
    expect(key(read('KV/DeleteRange', body), 'range_end')).toBe('\0');
  });

  it.each<[string, string]>([
    ['unpadded base64', '{"key":"L2NvbmZ0b29seA"}'],
    ['URL-safe base64', '{"key":"_-8="}'],
    ['base64 with a space', '{"key":"L2Nv bmZ0b29seA=="}'],
    ['a byte above 255', '{"key":[256]}'],
    ['an int64 with a fraction', '{"key":"YQ==","limit":1.0}'],
    ['an int64 in exponent form', '{"key":"YQ==","limit":"1e2"}'],
    ['an int64 with a leading zero', '{"key":"YQ==","limit":"01"}'],
    ['a bool as a string', '{"key":"YQ==","serializable":"true"}'],
    ['an enum by the etcd3 package\'s spelling', '{"key":"YQ==","sort_order":"Descend"}'],
    ['a list for the body', '[{"key":"YQ=="}]'],
    ['trailing commas', '{"key":"YQ==",}'],
    ['single quotes', "{'key':'YQ=='}"],
  ])('refuses %s', (_name, body) => {
    const methodName = 'KV/Range';
    expect(() => read(methodName, body)).toThrow();
  });

  it('int64 beyond 2^53 stays exact, quoted or not, spaces around allowed as Go allows them', () => {
    expect(read('Lease/LeaseRevoke', '{"ID":7587869405937483012}').ID).toBe('7587869405937483012');
    expect(read('Lease/LeaseRevoke', '{"ID":" 7587869405937483013 "}').ID).toBe('7587869405937483013');
    expect(() => read('Lease/LeaseRevoke', '{"ID":9223372036854775808}')).toThrow(/out of range/);
  });

  it('enums by Go\'s value names or numbers', () => {
    expect(read('KV/Range', '{"key":"YQ==","sort_order":"DESCEND"}').sort_order).toBe(2);
    expect(read('KV/Range', '{"key":"YQ==","sort_order":1}').sort_order).toBe(1);
    const txn = read('KV/Txn', '{"compare":[{"key":"YQ==","result":"NOT_EQUAL","target":"VALUE","value":"eA=="}]}');
    expect(txn.compare).toMatchObject([{ result: 3, target: 3 }]);
    expect(goEnumName('NotEqual')).toBe('NOT_EQUAL');
    expect(goEnumName('Nodelete')).toBe('NODELETE');
  });

  it('refuses a RequestOp naming two requests, which Go resolves in random map order', () => {
    expect(() => read('KV/Txn', `{"success":[{"request_range":{"key":"YQ=="},"request_put":{"key":"Yg=="}}]}`)).toThrow(/more than one/);
    expect(() => read('KV/Txn', `{"success":[{"request_range":{"key":"YQ=="},"requestPut":{"key":"Yg=="}}]}`)).toThrow(/more than one/);
  });

  it('reads only the first JSON value of a unary body, as the gateway does, and every value of a streamed one', () => {
    expect(key(read('KV/Range', `{"key":"${b64('/a')}"} {"key":"${b64('/b')}"}`))).toBe('/a');
    expect(parseJsonValues('{"create_request":{}} {"cancel_request":{}}\n')).toHaveLength(2);
    expect(parseFirstJsonValue('  ')).toBeUndefined();
  });

  it('writes the forwarded JSON with .proto names, padded base64 and int64 strings', () => {
    const type = typeOf('KV/Put');
    const message = type.fromObject(read('KV/Put', `{"key":"L2Nvbm\\nZ0b29s","value":"eA==","lease":"7587869405937483012","prevKv":true}`));
    expect(JSON.parse(canonicalJson(type, message))).toEqual({ key: b64('/conftool'), value: 'eA==', lease: '7587869405937483012', prev_kv: true });
    expect(jsonNameOf('remaining_TTL')).toBe('remainingTTL');
  });
});

describe('gateway paths', () => {
  it.each<[string, string | undefined]>([
    ['/v3/kv/range', 'KV/Range'],
    ['/v3beta/kv/put', 'KV/Put'],
    ['/v3/kv/lease/revoke', 'Lease/LeaseRevoke'],
    ['/v3/lease/revoke', 'Lease/LeaseRevoke'],
    ['/v3/maintenance/hash', 'Maintenance/HashKV'],
    ['/v3/kv/range?x=1', 'KV/Range'],
    ['/v3alpha/kv/range', 'admin-only'],
    ['/v3/kv//range', 'admin-only'],
    ['/v3/kv/range/', 'admin-only'],
    ['/v3/kv/%72ange', 'admin-only'],
  ])('%s', (path, expected) => {
    const route = gatewayRoute(path);
    expect(route.kind === 'method' ? route.method.name : route.kind).toBe(expected);
  });

  it('etcd\'s lock and election gateways, and paths the .proto files do not name, are admin-only pass-throughs', () => {
    expect(gatewayRoute('/v3/lock/lock')).toEqual({ kind: 'admin-only', path: '/v3/lock/lock' });
    expect(gatewayRoute('/v3beta/election/campaign')).toEqual({ kind: 'admin-only', path: '/v3/election/campaign' });
  });
});
