// Request bodies stream to etcd unbuffered; this counts them on the way and
// stops a body that grows past the limit (a declared Content-Length over the
// limit is refused before anything is forwarded: limits.ts).
import { Transform, type TransformCallback } from 'node:stream';

export class BodyTooLargeError extends Error {
  readonly code = 'EW_BODY_TOO_LARGE';
  constructor(readonly limitBytes: number) {
    super(`request body exceeds ${limitBytes} bytes`);
    this.name = 'BodyTooLargeError';
  }
}

export function limitBody(limitBytes: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      seen += chunk.length;
      if (seen > limitBytes) callback(new BodyTooLargeError(limitBytes));
      else callback(null, chunk);
    },
  });
}
