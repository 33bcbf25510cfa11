// The one flag reader of every command: `--name value`, `--name=value`,
// switches and short aliases, each flag typed where it is declared, and
// every error naming its flag. Unknown flags are errors, so a typo such as
// `--dryrun` cannot turn a dry run into a real switchover.
//
// A command declares its flags as a FlagSet (an object of Flag values);
// sets are plain objects, so flags shared by several commands are declared
// once and spread in (`{ ...mirrorMappingFlags, json: switchFlag('--json') }`),
// as the TLS family below is.
import { normalizePrefix } from '../../mirror/etcd/keys.js';
import { readTlsMaterial, TlsFileError, type TlsMaterial, type TlsPaths } from '../../mirror/etcd/tls.js';

/** The command line is wrong: printed with the command's usage, exit 2 (or 3). */
export class UsageError extends Error {
  readonly code = 'ETCD_WARDEN_USAGE';
}

export interface Flag<T> {
  readonly name: string;
  /** Other spellings, such as `-c` for `--config`. */
  readonly aliases: readonly string[];
  /** Switches take no value: being there is the value. */
  readonly takesValue: boolean;
  /** The value when the flag is not given. */
  readonly absent: T;
  /** Reads the given text (a switch gets ''); throws UsageError naming the flag. */
  read(text: string): T;
}

/** A flag that may be left out; `or(value)` gives it a default. */
export interface OptionalFlag<T> extends Flag<T | undefined> {
  or(fallback: T): Flag<T>;
}

export type FlagSet = Readonly<Record<string, Flag<unknown>>>;
export type FlagValues<S extends FlagSet> = { readonly [K in keyof S]: S[K] extends Flag<infer T> ? T : never };

export interface CommandLine<S extends FlagSet> {
  readonly flags: FlagValues<S>;
  readonly positional: readonly string[];
}

export function switchFlag(name: string, ...aliases: string[]): Flag<boolean> {
  return { name, aliases, takesValue: false, absent: false, read: () => true };
}

function valueFlag<T>(name: string, parse: (text: string) => T, aliases: readonly string[] = []): OptionalFlag<T> {
  return {
    name,
    aliases,
    takesValue: true,
    absent: undefined,
    read: parse,
    or: (fallback) => ({ name, aliases, takesValue: true, absent: fallback, read: parse }),
  };
}

export function textFlag(name: string, ...aliases: string[]): OptionalFlag<string> {
  return valueFlag(name, (text) => text, aliases);
}

export function integerFlag(name: string, bounds: { readonly min?: number; readonly max?: number } = {}): OptionalFlag<number> {
  const min = bounds.min ?? 0;
  const range = bounds.max === undefined ? (min === 0 ? 'a non-negative integer' : `an integer of at least ${min}`) : `an integer from ${min} to ${bounds.max}`;
  return valueFlag(name, (text) => {
    const value = Number(text);
    if (!Number.isInteger(value) || value < min || (bounds.max !== undefined && value > bounds.max)) throw new UsageError(`${name} needs ${range}, got ${JSON.stringify(text)}`);
    return value;
  });
}

export function choiceFlag<C extends string>(name: string, choices: readonly C[]): OptionalFlag<C> {
  return valueFlag(name, (text) => {
    const choice = choices.find((candidate) => candidate === text);
    if (choice === undefined) throw new UsageError(`${name} must be ${choices.slice(0, -1).join(', ')} or ${choices.at(-1) ?? ''}, got ${JSON.stringify(text)}`);
    return choice;
  });
}

/** `true` or `false`, spelled out. */
export function booleanFlag(name: string): OptionalFlag<boolean> {
  return valueFlag(name, (text) => {
    if (text !== 'true' && text !== 'false') throw new UsageError(`${name} must be true or false`);
    return text === 'true';
  });
}

/** A key prefix, normalised once (mirror/etcd/keys.ts): `/conftool/` reads as `/conftool`. */
export function prefixFlag(name: string): OptionalFlag<string> {
  return valueFlag(name, (text) => {
    const prefix = normalizePrefix(text);
    if (prefix === undefined) throw new UsageError(`${name} needs an absolute key path such as /conftool, got ${JSON.stringify(text)}`);
    return prefix;
  });
}

export function regexFlag(name: string): OptionalFlag<RegExp> {
  return valueFlag(name, (text) => {
    try {
      return new RegExp(text);
    } catch (error) {
      throw new UsageError(`${name}: ${(error as Error).message}`);
    }
  });
}

/** Comma-separated http(s) URLs. */
export function urlListFlag(name: string): OptionalFlag<string[]> {
  return valueFlag(name, (text) => httpUrls(text, name));
}

export function urlFlag(name: string): OptionalFlag<string> {
  return valueFlag(name, (text) => {
    const [url, ...more] = httpUrls(text, name);
    if (url === undefined || more.length > 0) throw new UsageError(`${name} takes one URL`);
    return url;
  });
}

/** Comma-separated URLs, each checked to be http(s); `name` is the flag or argument they came from. */
export function httpUrls(raw: string, name: string): string[] {
  const urls = raw.split(',').map((url) => url.trim()).filter((url) => url !== '');
  for (const url of urls) httpUrl(url, name);
  if (urls.length === 0) throw new UsageError(`${name} needs at least one URL`);
  return urls;
}

/**
 * One http(s) URL, commas and all (a password may hold one). The message
 * does not repeat the URL: it may carry `user:password@`.
 */
export function httpUrl(url: string, name: string): string {
  let protocol: string;
  try {
    protocol = new URL(url).protocol;
  } catch {
    protocol = '';
  }
  if (protocol !== 'http:' && protocol !== 'https:') throw new UsageError(`${name} must be an http(s) URL`);
  return url;
}

/**
 * TLS for an https etcd (or proxy) with a private CA or that wants a client
 * certificate, for every command that talks to one. Commands with one kind
 * of peer take these; see sideTlsFlags for the mirror's two sides.
 */
export const tlsFlags = {
  caFile: textFlag('--ca-file'),
  certFile: textFlag('--cert-file'),
  keyFile: textFlag('--key-file'),
};

/** The same family per side: the plain form applies to both, a --src-/--dst- form to one and wins over it. */
export const sideTlsFlags = {
  ...tlsFlags,
  srcCaFile: textFlag('--src-ca-file'),
  srcCertFile: textFlag('--src-cert-file'),
  srcKeyFile: textFlag('--src-key-file'),
  dstCaFile: textFlag('--dst-ca-file'),
  dstCertFile: textFlag('--dst-cert-file'),
  dstKeyFile: textFlag('--dst-key-file'),
};

type FilePicks = readonly [given: string | undefined, flag: string][];

/** The first given path of each file, with the flag it came from. */
function tlsPaths(ca: FilePicks, cert: FilePicks, key: FilePicks): TlsPaths | undefined {
  const pick = (choices: FilePicks): TlsPaths['ca'] => {
    const found = choices.find(([given]) => given !== undefined);
    return found?.[0] === undefined ? undefined : { path: found[0], setting: found[1] };
  };
  const paths = { ca: pick(ca), cert: pick(cert), key: pick(key) };
  return paths.ca === undefined && paths.cert === undefined && paths.key === undefined ? undefined : paths;
}

async function readGiven(paths: TlsPaths | undefined): Promise<TlsMaterial | undefined> {
  if (paths === undefined) return undefined;
  try {
    return await readTlsMaterial(paths);
  } catch (error) {
    if (error instanceof TlsFileError) throw new UsageError(error.message);
    throw error;
  }
}

/** Reads the files tlsFlags name, once. Throws UsageError naming the flag and the file. */
export function tlsMaterial(flags: FlagValues<typeof tlsFlags>): Promise<TlsMaterial | undefined> {
  return readGiven(tlsPaths([[flags.caFile, '--ca-file']], [[flags.certFile, '--cert-file']], [[flags.keyFile, '--key-file']]));
}

/** Reads the files sideTlsFlags name, once, per side. Throws UsageError naming the flag and the file. */
export async function sideTlsMaterial(flags: FlagValues<typeof sideTlsFlags>): Promise<{ src?: TlsMaterial; dst?: TlsMaterial }> {
  const side = (prefix: 'src' | 'dst', ca: string | undefined, cert: string | undefined, key: string | undefined): TlsPaths | undefined =>
    tlsPaths([[ca, `--${prefix}-ca-file`], [flags.caFile, '--ca-file']], [[cert, `--${prefix}-cert-file`], [flags.certFile, '--cert-file']], [[key, `--${prefix}-key-file`], [flags.keyFile, '--key-file']]);
  const [src, dst] = await Promise.all([
    readGiven(side('src', flags.srcCaFile, flags.srcCertFile, flags.srcKeyFile)),
    readGiven(side('dst', flags.dstCaFile, flags.dstCertFile, flags.dstKeyFile)),
  ]);
  return { ...(src === undefined ? {} : { src }), ...(dst === undefined ? {} : { dst }) };
}

/** Reads argv against a FlagSet; throws UsageError for an unknown flag or a bad value. */
export function readCommandLine<S extends FlagSet>(argv: readonly string[], set: S): CommandLine<S> {
  const declared = Object.values(set);
  const names = (takesValue: boolean): string[] => declared.filter((flag) => flag.takesValue === takesValue).flatMap((flag) => [flag.name, ...flag.aliases]);
  const tokens = parseFlags(argv, { values: names(true), switches: names(false) });
  if ('error' in tokens) throw new UsageError(tokens.error);
  const flags: Record<string, unknown> = {};
  for (const [key, flag] of Object.entries(set)) {
    const given = [flag.name, ...flag.aliases].find((name) => tokens.values.has(name) || tokens.switches.has(name));
    flags[key] = given === undefined ? flag.absent : flag.read(tokens.values.get(given) ?? '');
  }
  // One entry per key of `set`, each read by its own flag: the shape of FlagValues<S>.
  return { flags: flags as FlagValues<S>, positional: tokens.positional };
}

export interface FlagSpec {
  /** Flags that take a value. */
  readonly values: readonly string[];
  /** Flags that take none. */
  readonly switches: readonly string[];
}

export interface ParsedFlags {
  readonly values: ReadonlyMap<string, string>;
  readonly switches: ReadonlySet<string>;
  readonly positional: readonly string[];
}

/** The untyped first pass: which flags were given, with what text, and what is left over. */
export function parseFlags(argv: readonly string[], spec: FlagSpec): ParsedFlags | { error: string } {
  const values = new Map<string, string>();
  const switches = new Set<string>();
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (!arg.startsWith('-') || arg === '-') {
      positional.push(arg);
      continue;
    }
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    if (spec.switches.includes(name)) {
      if (eq > 0) return { error: `${name} takes no value` };
      switches.add(name);
      continue;
    }
    if (!spec.values.includes(name)) return { error: `unknown flag ${name}` };
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined || value === '') return { error: `${name} needs a value` };
    values.set(name, value);
  }
  return { values, switches, positional };
}

export interface CommandIo {
  readonly out: NodeJS.WritableStream;
  readonly err: NodeJS.WritableStream;
}

export interface CommandSpec<S extends FlagSet> {
  readonly name: string;
  readonly usage: string;
  readonly flags: S;
  /** 2, or 3 where 2 already means something (health: down; mirror-status: unreachable). */
  readonly usageExitCode: number;
}

/**
 * Runs a command: `--help` prints the usage, a UsageError (from the flags or
 * thrown by `run` for a rule across flags) prints the problem and the usage.
 */
export async function runCommand<S extends FlagSet>(
  argv: readonly string[],
  spec: CommandSpec<S>,
  io: CommandIo,
  run: (line: CommandLine<S>) => Promise<number>,
): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.out.write(spec.usage + '\n');
    return 0;
  }
  try {
    return await run(readCommandLine(argv, spec.flags));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.err.write(`etcd-warden ${spec.name}: ${error.message}\n${spec.usage}\n`);
    return spec.usageExitCode;
  }
}

/** Exactly the positional arguments named, or a UsageError saying which is missing or extra. */
export function positionalArguments(positional: readonly string[], names: readonly string[]): string[] {
  if (positional.length > names.length) throw new UsageError(`unexpected argument ${positional[names.length] ?? ''}`);
  const missing = names[positional.length];
  if (missing !== undefined) throw new UsageError(`${missing} is required`);
  return [...positional];
}
