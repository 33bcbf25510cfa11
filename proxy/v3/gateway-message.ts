// A gateway request's JSON turned into the protobuf message etcd's 3.4
// gateway would build from it (golang/protobuf jsonpb, AllowUnknownFields),
// measured against etcd 3.4.23 (research notes, "The wire"):
//   names       the .proto name (range_end) or its JSON name (rangeEnd);
//               both given: the JSON name wins, in either order; any other
//               spelling (RangeEnd) is an unknown field, ignored
//   duplicates  the last one wins (gateway-json.ts)
//   bytes       standard base64 with padding, \r and \n skipped; or an
//               array of numbers 0..255 (Go decodes []byte from either)
//   int64       a JSON integer, or a string holding one (spaces around it
//               allowed, nothing else: "01", "1e2", "1.0" are refused)
//   int32       a JSON integer only
//   enums       Go's value name (NOT_EQUAL) or a number
//   null        the field's default
//   oneofs      two members given: refused (Go picks one by map order)
// Then the request is forwarded as JSON we write from that message
// (canonicalJson), so etcd's gateway has one reading of it: ours.
import protobuf from 'protobufjs';
import type { JsonValue } from './gateway-json.js';

export class GatewayMessageError extends Error {}

type Plain = Record<string, unknown>;

/** protoc's json_name: underscores dropped, the next letter upper-cased. */
export function jsonNameOf(fieldName: string): string {
  return fieldName.replace(/_(.)/g, (_match, letter: string) => letter.toUpperCase());
}

/** Go's enum value name for one of the etcd3 package's re-cased names: NotEqual -> NOT_EQUAL. */
export function goEnumName(name: string): string {
  return name.replace(/(?<=[a-z0-9])(?=[A-Z])/g, '_').toUpperCase();
}

const int64Types = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);
const int32Types = new Set(['int32', 'uint32', 'sint32', 'fixed32', 'sfixed32']);
const integerText = /^-?(?:0|[1-9][0-9]*)$/;
const quotedIntegerText = /^[ \t\n\r]*(-?(?:0|[1-9][0-9]*))[ \t\n\r]*$/;
const base64Text = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function fail(field: string, problem: string): never {
  throw new GatewayMessageError(`${field}: ${problem}`);
}

function integerInRange(field: string, text: string, type: string): string {
  const value = BigInt(text);
  const unsigned = type.startsWith('uint') || type.startsWith('fixed');
  const bits = int64Types.has(type) ? 64n : 32n;
  const [low, high] = unsigned ? [0n, 2n ** bits - 1n] : [-(2n ** (bits - 1n)), 2n ** (bits - 1n) - 1n];
  if (value < low || value > high) fail(field, `${text} is out of range for ${type}`);
  return value.toString();
}

function bytesValue(field: string, json: JsonValue): Buffer {
  if (json.kind === 'array') {
    return Buffer.from(
      json.items.map((item) => {
        if (item.kind !== 'number' || !integerText.test(item.raw) || Number(item.raw) > 255 || Number(item.raw) < 0) fail(field, 'bytes given as an array must hold numbers 0..255');
        return Number(item.raw);
      }),
    );
  }
  if (json.kind !== 'string') fail(field, 'bytes must be a base64 string');
  const text = json.value.replace(/[\r\n]/g, '');
  if (!base64Text.test(text)) fail(field, 'bytes must be standard base64 with padding');
  return Buffer.from(text, 'base64');
}

function scalarValue(field: protobuf.Field, name: string, json: JsonValue): unknown {
  const type = field.type;
  if (field.resolvedType instanceof protobuf.Enum) {
    const values = field.resolvedType.values;
    if (json.kind === 'number' && integerText.test(json.raw)) return Number(integerInRange(name, json.raw, 'int32'));
    if (json.kind !== 'string') fail(name, 'an enum must be a name or a number');
    const match = Object.entries(values).find(([enumName]) => goEnumName(enumName) === json.value);
    if (match === undefined) fail(name, `unknown value ${JSON.stringify(json.value)}`);
    return match[1];
  }
  if (type === 'bytes') return bytesValue(name, json);
  if (type === 'string') {
    if (json.kind !== 'string') fail(name, 'must be a string');
    return json.value;
  }
  if (type === 'bool') {
    if (json.kind !== 'bool') fail(name, 'must be true or false');
    return json.value;
  }
  if (int64Types.has(type)) {
    if (json.kind === 'number' && integerText.test(json.raw)) return integerInRange(name, json.raw, type);
    const quoted = json.kind === 'string' ? quotedIntegerText.exec(json.raw) : null;
    if (quoted?.[1] === undefined) fail(name, 'must be an integer or a string holding one');
    return integerInRange(name, quoted[1], type);
  }
  if (int32Types.has(type)) {
    if (json.kind !== 'number' || !integerText.test(json.raw)) fail(name, 'must be an integer');
    return Number(integerInRange(name, json.raw, type));
  }
  return fail(name, `fields of type ${type} are not accepted by the proxy`);
}

function fieldValue(field: protobuf.Field, name: string, json: JsonValue, depth: number): unknown {
  const single = (item: JsonValue): unknown =>
    field.resolvedType instanceof protobuf.Type ? messageObject(field.resolvedType, item, `${name}.`, depth + 1) : scalarValue(field, name, item);
  if (field.repeated) {
    if (json.kind !== 'array') fail(name, 'must be a list');
    return json.items.map((item) => {
      if (item.kind === 'null') fail(name, 'a list may not hold null');
      return single(item);
    });
  }
  return single(json);
}

/** The plain object protobufjs's fromObject takes, read as the gateway reads `json`. */
export function messageObject(type: protobuf.Type, json: JsonValue | undefined, prefix = '', depth = 0): Plain {
  if (depth > 100) fail(prefix, 'nested too deep');
  if (json === undefined || json.kind === 'null') return {};
  if (json.kind !== 'object') fail(prefix === '' ? '(body)' : prefix, `expected a JSON object for ${type.name}`);
  const object: Plain = {};
  for (const field of type.fieldsArray) {
    field.resolve();
    const camel = json.members.get(jsonNameOf(field.name));
    const value = camel ?? json.members.get(field.name);
    if (value === undefined || value.kind === 'null') continue;
    object[field.name] = fieldValue(field, `${prefix}${field.name}`, value, depth);
  }
  for (const oneof of type.oneofsArray) {
    const given = oneof.fieldsArray.filter((field) => json.members.has(field.name) || json.members.has(jsonNameOf(field.name)));
    if (given.length > 1) fail(`${prefix}${oneof.name}`, `more than one of ${given.map((f) => f.name).join(', ')} given`);
    const [member] = given;
    if (member !== undefined && object[member.name] === undefined) fail(`${prefix}${member.name}`, 'a oneof member may not be null');
  }
  return object;
}

/** The JSON we forward: .proto names, int64 as strings, bytes as padded base64, enums as numbers. */
export function canonicalJson(type: protobuf.Type, message: protobuf.Message): string {
  return JSON.stringify(type.toObject(message, { longs: String, enums: Number, bytes: String, defaults: false, oneofs: false }));
}
