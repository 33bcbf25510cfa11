// Flag parsing for the operator commands (health, mirror-status,
// mirror-verify, switchover): `--name value`, `--name=value` and switches.
// Unknown flags are errors, so a typo such as `--dryrun` cannot turn a
// dry run into a real switchover.

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

export function parseFlags(argv: readonly string[], spec: FlagSpec): ParsedFlags | { error: string } {
  const values = new Map<string, string>();
  const switches = new Set<string>();
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
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

/** A flag holding a non-negative integer, or an error naming the flag. */
export function integerFlag(flags: ParsedFlags, name: string, fallback: number): number | { error: string } {
  const raw = flags.values.get(name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) return { error: `${name} needs a non-negative integer, got ${JSON.stringify(raw)}` };
  return value;
}

/** Comma-separated URLs, each checked to be http(s). */
export function urlListFlag(raw: string, name: string): string[] | { error: string } {
  const urls = raw.split(',').map((url) => url.trim()).filter((url) => url !== '');
  for (const url of urls) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return { error: `${name}: ${JSON.stringify(url)} is not a URL` };
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return { error: `${name}: ${JSON.stringify(url)} is not an http(s) URL` };
  }
  if (urls.length === 0) return { error: `${name} needs at least one URL` };
  return urls;
}
