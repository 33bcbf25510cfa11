import { readOnlyError, type ProxyError } from './errors.js';
import { isReadMethod } from './request.js';

/** The read-only switch: every method but GET/HEAD/OPTIONS is refused, on every path. */
export function readOnlyGate(readOnly: boolean, method: string): ProxyError | undefined {
  return readOnly && !isReadMethod(method) ? readOnlyError() : undefined;
}
