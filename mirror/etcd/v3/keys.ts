// etcd v3 keys are bytes. Inside the mirror a key travels as a "byte
// string": a JS string with one char (0-255) per byte, so that string order
// is etcd's byte order, keys can be Map keys, and a prefix test is a string
// test. The brand keeps a byte string from being mixed up with text: a key
// becomes text only for logs and for the ignore regex (keyText).

export type KeyBytes = string & { readonly __brand: 'KeyBytes' };

export function keyFromBuffer(buffer: Uint8Array): KeyBytes {
  return Buffer.from(buffer.buffer, buffer.byteOffset, buffer.byteLength).toString('latin1') as KeyBytes;
}

export function keyToBuffer(key: KeyBytes): Buffer {
  return Buffer.from(key, 'latin1');
}

/** A key given as text (a command-line prefix, a v2 key) in etcd's UTF-8. */
export function keyFromText(text: string): KeyBytes {
  return keyFromBuffer(Buffer.from(text, 'utf8'));
}

/** The key as a person reads it (invalid UTF-8 shows as U+FFFD). */
export function keyText(key: KeyBytes): string {
  return keyToBuffer(key).toString('utf8');
}

/** A half-open byte interval [start, end); end "" is etcd's "\0": every key ≥ start. */
export interface KeyInterval {
  readonly start: KeyBytes;
  readonly end: KeyBytes;
}

const zeroByte = '\u0000';

/** The interval holding exactly one key (etcd: key + "\0" as range_end). */
export function singleKey(key: KeyBytes): KeyInterval {
  return { start: key, end: (key + zeroByte) as KeyBytes };
}

/**
 * Every key starting with `prefix` (etcd's prefix range end: the last byte
 * below 0xff incremented, the rest dropped). An all-0xff or empty prefix
 * means every key from `prefix` on.
 */
export function prefixInterval(prefix: KeyBytes): KeyInterval {
  for (let i = prefix.length - 1; i >= 0; i--) {
    const code = prefix.charCodeAt(i);
    if (code < 0xff) return { start: prefix, end: (prefix.slice(0, i) + String.fromCharCode(code + 1)) as KeyBytes };
  }
  return { start: prefix, end: '' as KeyBytes };
}

export function inInterval(key: KeyBytes, interval: KeyInterval): boolean {
  return key >= interval.start && (interval.end === '' || key < interval.end);
}

export function intervalsOverlap(a: KeyInterval, b: KeyInterval): boolean {
  const aEndsBeforeB = a.end !== '' && a.end <= b.start;
  const bEndsBeforeA = b.end !== '' && b.end <= a.start;
  return !aEndsBeforeB && !bEndsBeforeA;
}

/** The smallest key after `key` (for the next page of a paginated range). */
export function keyAfter(key: KeyBytes): KeyBytes {
  return (key + zeroByte) as KeyBytes;
}
