// JSON as etcd 3.4's grpc-gateway reads it (Go's encoding/json under
// golang/protobuf's jsonpb), kept as a tree that remembers what JS's
// JSON.parse would lose: the exact text of numbers (lease IDs pass 2^53)
// and of strings (jsonpb strips the quotes of a quoted int64 and parses the
// raw text, escapes and all). Objects keep the last of duplicate names, as
// Go's map decoding does. Strict RFC 8259, like Go: no comments, trailing
// commas, NaN or leading zeros.
//
// Pure: text in, values out.

export type JsonValue =
  | { readonly kind: 'object'; readonly members: ReadonlyMap<string, JsonValue> }
  | { readonly kind: 'array'; readonly items: readonly JsonValue[] }
  | { readonly kind: 'string'; readonly value: string; readonly raw: string }
  | { readonly kind: 'number'; readonly raw: string }
  | { readonly kind: 'bool'; readonly value: boolean }
  | { readonly kind: 'null' };

export class JsonSyntaxError extends Error {}

const maxDepth = 100;
const numberPattern = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const escapes: Readonly<Record<string, string>> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

class Cursor {
  position = 0;
  constructor(readonly text: string) {}

  skipSpace(): void {
    while (this.position < this.text.length && ' \t\n\r'.includes(this.text.charAt(this.position))) this.position++;
  }

  get atEnd(): boolean {
    return this.position >= this.text.length;
  }

  fail(what: string): never {
    throw new JsonSyntaxError(`invalid JSON at offset ${this.position}: ${what}`);
  }

  value(depth: number): JsonValue {
    if (depth > maxDepth) this.fail(`nested more than ${maxDepth} levels`);
    this.skipSpace();
    const char = this.text.charAt(this.position);
    if (char === '{') return this.object(depth);
    if (char === '[') return this.array(depth);
    if (char === '"') return this.string();
    for (const [word, value] of [['true', { kind: 'bool', value: true }], ['false', { kind: 'bool', value: false }], ['null', { kind: 'null' }]] as const) {
      if (this.text.startsWith(word, this.position)) {
        this.position += word.length;
        return value;
      }
    }
    numberPattern.lastIndex = this.position;
    const number = numberPattern.exec(this.text);
    if (number === null) this.fail(`unexpected ${JSON.stringify(char)}`);
    this.position += number[0].length;
    return { kind: 'number', raw: number[0] };
  }

  private object(depth: number): JsonValue {
    this.position++;
    const members = new Map<string, JsonValue>();
    this.skipSpace();
    if (this.text.charAt(this.position) === '}') {
      this.position++;
      return { kind: 'object', members };
    }
    for (;;) {
      this.skipSpace();
      if (this.text.charAt(this.position) !== '"') this.fail('expected a member name');
      const name = this.string();
      this.skipSpace();
      if (this.text.charAt(this.position) !== ':') this.fail('expected ":"');
      this.position++;
      members.set(name.kind === 'string' ? name.value : '', this.value(depth + 1));
      this.skipSpace();
      const next = this.text.charAt(this.position++);
      if (next === '}') return { kind: 'object', members };
      if (next !== ',') this.fail('expected "," or "}"');
    }
  }

  private array(depth: number): JsonValue {
    this.position++;
    const items: JsonValue[] = [];
    this.skipSpace();
    if (this.text.charAt(this.position) === ']') {
      this.position++;
      return { kind: 'array', items };
    }
    for (;;) {
      items.push(this.value(depth + 1));
      this.skipSpace();
      const next = this.text.charAt(this.position++);
      if (next === ']') return { kind: 'array', items };
      if (next !== ',') this.fail('expected "," or "]"');
    }
  }

  private string(): JsonValue {
    const start = ++this.position;
    let value = '';
    for (;;) {
      if (this.atEnd) this.fail('unterminated string');
      const char = this.text.charAt(this.position);
      const code = this.text.charCodeAt(this.position);
      if (char === '"') break;
      if (code < 0x20) this.fail('control character in string');
      if (char !== '\\') {
        value += char;
        this.position++;
        continue;
      }
      const escape = this.text.charAt(this.position + 1);
      if (escape === 'u') {
        const hex = this.text.slice(this.position + 2, this.position + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail('bad \\u escape');
        value += String.fromCharCode(parseInt(hex, 16));
        this.position += 6;
      } else {
        const replaced = escapes[escape];
        if (replaced === undefined) this.fail(`bad escape \\${escape}`);
        value += replaced;
        this.position += 2;
      }
    }
    const raw = this.text.slice(start, this.position);
    this.position++;
    // Go replaces an unpaired surrogate (only \u escapes can make one) by U+FFFD.
    return { kind: 'string', value: value.replace(loneSurrogate, '\uFFFD'), raw };
  }
}

/** The first JSON value of a request body, as the gateway's decoder reads it; undefined for an empty body. */
export function parseFirstJsonValue(text: string): JsonValue | undefined {
  const cursor = new Cursor(text);
  cursor.skipSpace();
  if (cursor.atEnd) return undefined;
  // Whatever follows the first value is never read by a unary handler.
  return cursor.value(0);
}

/** Every JSON value of a streamed request body (watch, keep-alive), in order. */
export function parseJsonValues(text: string): JsonValue[] {
  const cursor = new Cursor(text);
  const values: JsonValue[] = [];
  for (;;) {
    cursor.skipSpace();
    if (cursor.atEnd) return values;
    values.push(cursor.value(0));
  }
}
