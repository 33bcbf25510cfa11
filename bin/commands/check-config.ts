// `etcd-warden check-config --config FILE`: the config and everything it
// points at (htpasswd, certificates), checked as the proxy loads them at
// start and on SIGHUP, like `nginx -t`. Exit 0, or 1 with every error
// naming its field.
import { loadConfig, type LoadedConfig } from '../../config/load.js';
import { readMemberUrls } from '../../proxy/member-url-check.js';
import { upstreamOptionsOf } from '../../proxy/upstream-options.js';
import { positionalArguments, runCommand, switchFlag, textFlag, UsageError, type CommandIo } from './flags.js';

/** `--config FILE`, read the same way by the proxy and by check-config. */
export const configFlags = { config: textFlag('--config', '-c') };

const checkConfigFlags = { ...configFlags, online: switchFlag('--online') };

export function checkConfigCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  const spec = { name: 'check-config', usage: 'usage: etcd-warden check-config --config FILE [--online]', flags: checkConfigFlags, usageExitCode: 2 };
  return runCommand(argv, spec, io, async ({ flags, positional }) => {
    positionalArguments(positional, []);
    const loaded = await loadConfigOrSay(flags.config, 'the configuration has errors', io);
    if (loaded === undefined) return 1;
    for (const warning of loaded.warnings) io.err.write(`warning: ${warning}\n`);
    io.out.write(`${loaded.file}: the configuration is valid (${loaded.users.size} users, ${Object.keys(loaded.config.acls).length} ACL rules)\n`);
    return flags.online ? checkOnline(loaded, io) : 0;
  });
}

/** `check-config --online`: also asks the upstream etcd which client URLs it advertises. */
async function checkOnline(loaded: LoadedConfig, io: CommandIo): Promise<number> {
  const upstreamOptions = upstreamOptionsOf(loaded);
  const advertise = loaded.config.advertise;
  const reading = await readMemberUrls(upstreamOptions, { advertise, upstream: upstreamOptions.origin });
  if (!reading.ok) {
    io.err.write(`${reading.error}\n`);
    return 1;
  }
  for (const bypass of reading.bypasses) {
    io.err.write(`error: etcd member ${bypass.member} advertises client URL ${bypass.url}, which ${bypass.problem}\n  fix: ${bypass.fix}\n`);
  }
  if (reading.bypasses.length > 0) return 1;
  io.out.write(`${upstreamOptions.origin.origin}: every client URL etcd advertises goes through a proxy${advertise === undefined ? ' (as far as can be told without `advertise`)' : ''}\n`);
  return 0;
}

/** The config file loaded and checked, or undefined after printing every error under `headline`. */
export async function loadConfigOrSay(configFile: string | undefined, headline: string, io: CommandIo): Promise<LoadedConfig | undefined> {
  if (configFile === undefined) throw new UsageError('--config is required');
  const loaded = await loadConfig(configFile);
  if (loaded.ok) return loaded.value;
  sayConfigErrors(configFile, headline, loaded.errors, io);
  return undefined;
}

/** Every error of a config, under `headline`, on stderr. */
export function sayConfigErrors(configFile: string, headline: string, errors: readonly string[], io: CommandIo): void {
  io.err.write(`${configFile}: ${headline}:\n${errors.map((e) => `  ${e}\n`).join('')}`);
}
