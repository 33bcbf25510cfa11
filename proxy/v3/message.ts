// One client message, decoded once with etcd's .proto types, checked, and
// re-encoded for etcd.
//
// Why we forward a re-encoding and never the client's bytes: protobuf has
// spellings that two decoders may read differently. A singular embedded
// message sent twice is merged by Go (etcd) but replaced by protobufjs; two
// members of one oneof (RequestOp's request_range and request_put) are both
// kept by protobufjs, while Go keeps the last on the wire; unknown fields
// mean nothing to us and may mean something to a newer etcd. Encoding the
// very message we decided on leaves etcd one reading: ours. On top, a oneof
// with more than one member set is refused outright, because our walker and
// the encoder would otherwise have to agree on which member counts.
import protobuf from 'protobufjs';
import { EtcdGrpcError, GrpcCode } from '../../mirror/etcd/v3/errors.js';

/** A decoded message seen as plain data: int64 as decimal strings, bytes as Buffers, enums as numbers. */
export type MessageView = Readonly<Record<string, unknown>>;

export interface DecodedMessage {
  readonly message: protobuf.Message;
  readonly view: MessageView;
}

// Messages nested deeper than this are refused: protobufjs's decoder stops
// at protoc's default recursion limit (100 levels, i.e. ~50 nested Txns).
// No client nests more than a level or two.
export const maxNesting = 100;

const viewOptions: protobuf.IConversionOptions = { longs: String, enums: Number, defaults: true, oneofs: false };

export function decodeMessage(type: protobuf.Type, bytes: Uint8Array): DecodedMessage | EtcdGrpcError {
  let message: protobuf.Message;
  try {
    message = type.decode(bytes);
  } catch (error) {
    // A stack overflow on absurd nesting lands here too.
    return new EtcdGrpcError(GrpcCode.Internal, `grpc: error unmarshalling request: ${(error as Error).message}`);
  }
  const problem = ambiguity(type, message, 0);
  if (problem !== undefined) return new EtcdGrpcError(GrpcCode.InvalidArgument, `etcd-warden: ${problem}`);
  try {
    const view = type.toObject(message, viewOptions);
    widenEmptyRangeEnds(type, message, view);
    return { message, view };
  } catch (error) {
    return new EtcdGrpcError(GrpcCode.InvalidArgument, `etcd-warden: ${(error as Error).message}`);
  }
}

export function encodeMessage(type: protobuf.Type, message: protobuf.Message): Buffer {
  const bytes = type.encode(message).finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

// Found by the differential fuzz, measured on etcd 3.4.23: a range_end that
// is *present* on the wire with zero bytes is decoded by etcd's gogo code as
// []byte{} (not nil), and etcd's mvcc reads a non-nil empty end as "no upper
// bound". Whether that reaches mvcc depends on the path: a Range, or a
// read-only Txn, is served at once and touches every key >= key; anything
// that goes through raft is re-marshalled first, which drops the empty field,
// and means the single key; the watch server turns it back into nil. etcd's
// own RBAC reads it as the single key everywhere. We decide as if it were
// "\0" (every key >= key), a superset of both meanings, and forward the
// message untouched, so etcd's answer is what a direct client would get.
// No client we know sends it (gogo, python protobuf and the etcd3 package
// leave an empty range_end out); a raw protobufjs or grpc-js caller can.
const unboundedWhenEmpty = new Set(['RangeRequest', 'DeleteRangeRequest', 'Compare']);

function widenEmptyRangeEnds(type: protobuf.Type, message: protobuf.Message, view: Record<string, unknown>): void {
  const fields = message as unknown as Record<string, unknown>;
  if (unboundedWhenEmpty.has(type.name) && Object.prototype.hasOwnProperty.call(message, 'range_end')) {
    const end = fields.range_end;
    if (end instanceof Uint8Array && end.length === 0) view.range_end = Buffer.from([0]);
  }
  for (const field of type.fieldsArray) {
    const childType = field.resolvedType;
    if (!(childType instanceof protobuf.Type) || !isSet(message, field.name)) continue;
    const value = fields[field.name];
    const viewValue = view[field.name];
    const children = Array.isArray(value) ? value : [value];
    const viewChildren: unknown[] = Array.isArray(viewValue) ? viewValue : [viewValue];
    children.forEach((child, i) => {
      const viewChild = viewChildren[i];
      if (child instanceof protobuf.Message && typeof viewChild === 'object' && viewChild !== null) {
        widenEmptyRangeEnds(childType, child, viewChild as Record<string, unknown>);
      }
    });
  }
}

function isSet(message: protobuf.Message, field: string): boolean {
  return Object.prototype.hasOwnProperty.call(message, field) && (message as unknown as Record<string, unknown>)[field] != null;
}

/** Why the message cannot be read one way only, or undefined. */
function ambiguity(type: protobuf.Type, message: protobuf.Message, depth: number): string | undefined {
  if (depth > maxNesting) return `${type.name} nested more than ${maxNesting} levels deep`;
  for (const oneof of type.oneofsArray) {
    const members = oneof.fieldsArray.filter((field) => isSet(message, field.name));
    if (members.length > 1) return `${type.name}.${oneof.name} has more than one member set (${members.map((f) => f.name).join(', ')})`;
  }
  for (const field of type.fieldsArray) {
    if (!(field.resolvedType instanceof protobuf.Type) || !isSet(message, field.name)) continue;
    const value: unknown = (message as unknown as Record<string, unknown>)[field.name];
    const children = Array.isArray(value) ? value : [value];
    for (const child of children) {
      if (!(child instanceof protobuf.Message)) continue;
      const found = ambiguity(field.resolvedType, child, depth + 1);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

// Typed readers over a MessageView. toObject with defaults fills every
// scalar, so a missing or mistyped field means the view is not what we
// think it is: fail closed with an error, never guess.
class ViewError extends Error {}

export function bytesField(view: MessageView, field: string): Buffer {
  const value = view[field];
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof Uint8Array) return Buffer.from(value);
  throw new ViewError(`field ${field} is not bytes`);
}

export function boolField(view: MessageView, field: string): boolean {
  const value = view[field];
  if (typeof value === 'boolean') return value;
  throw new ViewError(`field ${field} is not a bool`);
}

/** int64/uint64 as a decimal string ("0" when unset). */
export function int64Field(view: MessageView, field: string): string {
  const value = view[field];
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  throw new ViewError(`field ${field} is not an integer`);
}

export function enumField(view: MessageView, field: string): number {
  const value = view[field];
  if (typeof value === 'number') return value;
  throw new ViewError(`field ${field} is not an enum`);
}

function isView(value: unknown): value is MessageView {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

export function messageField(view: MessageView, field: string): MessageView | undefined {
  const value = view[field];
  if (value === null || value === undefined) return undefined;
  if (isView(value)) return value;
  throw new ViewError(`field ${field} is not a message`);
}

export function repeatedMessages(view: MessageView, field: string): MessageView[] {
  const value = view[field];
  if (!Array.isArray(value)) throw new ViewError(`field ${field} is not repeated`);
  return value.map((item) => {
    if (!isView(item)) throw new ViewError(`field ${field} holds a non-message`);
    return item;
  });
}

export { ViewError };
