// Reads one config field at a time and collects every problem, each naming
// its field, so one run of check-config reports all of them at once.
import { cleanPath, normalizePrefix } from '../mirror/etcd/keys.js';

/** A `host:port` the proxy listens on. */
export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/** Collects errors while reading fields, so one run reports every problem at once. */
export class FieldReader {
  readonly errors: string[] = [];

  fail(field: string, problem: string): void {
    this.errors.push(`${field}: ${problem}`);
  }

  record(value: unknown, field: string): Record<string, unknown> | undefined {
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
    this.fail(field, `must be a mapping, got ${describe(value)}`);
    return undefined;
  }

  unknownFields(value: Record<string, unknown>, known: readonly string[], field: string): void {
    for (const name of Object.keys(value)) {
      if (!known.includes(name)) this.fail(field === '' ? name : `${field}.${name}`, `unknown field (known: ${known.join(', ')})`);
    }
  }

  string(value: unknown, field: string): string | undefined {
    if (typeof value === 'string' && value !== '') return value;
    this.fail(field, `must be a non-empty string, got ${describe(value)}`);
    return undefined;
  }

  boolean(value: unknown, field: string): boolean | undefined {
    if (typeof value === 'boolean') return value;
    this.fail(field, `must be true or false, got ${describe(value)}`);
    return undefined;
  }

  positiveInteger(value: unknown, field: string): number | undefined {
    if (typeof value === 'number' && Number.isInteger(value) && value > 0) return value;
    this.fail(field, `must be a positive integer, got ${describe(value)}`);
    return undefined;
  }

  /** A section of positive integers with defaults (timeouts, limits): every field optional, none unknown. */
  positiveIntegers<T extends Record<keyof T, number>>(value: unknown, defaults: T, field: string): T {
    const section = this.record(value, field);
    if (section === undefined) return defaults;
    this.unknownFields(section, Object.keys(defaults), field);
    const merged: Record<string, number> = { ...defaults };
    for (const name of Object.keys(defaults)) {
      if (section[name] === undefined) continue;
      const parsed = this.positiveInteger(section[name], `${field}.${name}`);
      if (parsed !== undefined) merged[name] = parsed;
    }
    // Same keys as `defaults`, each a number: the shape of T.
    return merged as T;
  }

  address(value: unknown, field: string): ListenAddress | undefined {
    const text = this.string(value, field);
    if (text === undefined) return undefined;
    const match = /^(\[[0-9a-fA-F:.]+\]|[^:\s]+):(\d{1,5})$/.exec(text);
    const port = match === null ? NaN : Number(match[2]);
    if (match === null || match[1] === undefined || !(port >= 0 && port <= 65535)) {
      this.fail(field, `must be "host:port" (e.g. "0.0.0.0:4001"), got ${JSON.stringify(text)}`);
      return undefined;
    }
    return { host: match[1].replace(/^\[|\]$/g, ''), port };
  }

  userList(value: unknown, field: string): string[] | undefined {
    if (!Array.isArray(value)) {
      this.fail(field, `must be a list of user names (empty for anyone), got ${describe(value)}`);
      return undefined;
    }
    const users: string[] = [];
    value.forEach((user, i) => {
      if (typeof user === 'string' && /^[^:\s]+$/.test(user)) users.push(user);
      else this.fail(`${field}[${i}]`, `must be a user name without ':' or spaces, got ${describe(user)}`);
    });
    return users;
  }

  aclMap(value: unknown, field: string): Record<string, string[]> | undefined {
    const map = this.record(value, field);
    if (map === undefined) return undefined;
    const acl: Record<string, string[]> = {};
    for (const [prefix, users] of Object.entries(map)) {
      const entryField = `${field}[${JSON.stringify(prefix)}]`;
      if (normalizePrefix(prefix) !== prefix) {
        this.fail(entryField, `the prefix must be a clean key path starting with "/" (no "..", ".", "//" or trailing "/"); did you mean ${JSON.stringify(cleanPath('/' + prefix))}?`);
        continue;
      }
      const list = this.userList(users, entryField);
      if (list !== undefined) acl[prefix] = list;
    }
    return acl;
  }

  keyPrefix(value: unknown, field: string): string | undefined {
    const text = this.string(value, field);
    if (text === undefined) return undefined;
    if (normalizePrefix(text) !== text) {
      this.fail(field, `must be a clean key path starting with "/", got ${JSON.stringify(text)}`);
      return undefined;
    }
    return text;
  }

  httpUrl(value: unknown, field: string): URL | undefined {
    const text = this.string(value, field);
    if (text === undefined) return undefined;
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      this.fail(field, `must be an http:// or https:// URL, got ${JSON.stringify(text)}`);
      return undefined;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      this.fail(field, `must be an http:// or https:// URL, got ${JSON.stringify(text)}`);
      return undefined;
    }
    return url;
  }
}

export function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} ${JSON.stringify(value)}`;
}
