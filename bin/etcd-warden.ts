#!/usr/bin/env node
// etcd-warden: one binary, several commands. Each command's module is loaded
// only when it runs: the mirror process does not carry the proxy's modules,
// the demo or the operator commands (measured: 14 MiB of RSS).
import type { CommandIo } from './commands/flags.js';

const usage = `usage: etcd-warden <command> [options]

commands:
  proxy --config FILE          run the TLS/auth/ACL proxy in front of an etcd member
  check-config --config FILE [--online]
                               validate a config file and everything it points at (exit 0 or the errors);
                               --online also checks that etcd advertises no client URL around the proxy
  mirror [options] SRC DST     replicate SRC's keyspace into DST (etcdmirror-compatible flags, --api v3, TLS files; --help)
  passwd USER                  read a password on stdin, print an htpasswd line (bcrypt, cost 10)
  clients --metrics URL        list open client connections and watches on a proxy (--json for scripts)
  health --endpoints URL[,URL] cluster health: members, leader, raft spread, read-only, mirror (exit 0/1/2)
  mirror-status URL            a running mirror's state, lag, index, source contact, resyncs, why it stopped
  mirror-verify [flags] SRC DST  compare a replica with its source key by key, writing nothing (exit 0 equal, 1 different)
  switchover --old-primary URL --new-primary URL --src-prefix P --dst-prefix P [--dry-run]
                               the checked etcd part of a datacenter switchover (--help for every flag)
  demo                         run two local etcd clusters with a proxy each and the mirror between them
`;

type Command = (argv: readonly string[], io: CommandIo) => Promise<number>;

const commands: Readonly<Record<string, () => Promise<Command>>> = {
  proxy: async () => (await import('./commands/proxy.js')).proxyCommand,
  'check-config': async () => (await import('./commands/check-config.js')).checkConfigCommand,
  mirror: async () => (await import('./commands/mirror.js')).mirrorCommand,
  passwd: async () => {
    const { passwdCommand } = await import('./commands/passwd.js');
    return (argv, io) => passwdCommand(argv, process.stdin, io.out, io.err);
  },
  clients: async () => (await import('./commands/clients.js')).clientsCommand,
  health: async () => (await import('./commands/health.js')).healthCommand,
  'mirror-status': async () => (await import('./commands/mirror-status.js')).mirrorStatusCommand,
  'mirror-verify': async () => (await import('./commands/mirror-verify.js')).mirrorVerifyCommand,
  switchover: async () => (await import('./commands/switchover.js')).switchoverCommand,
  demo: async () => (await import('./commands/demo.js')).demoCommand,
};

async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === 'help' || name === '-h' || name === '--help') {
    process.stdout.write(usage);
    return 0;
  }
  const load = name !== undefined && Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (load === undefined) {
    process.stderr.write(name === undefined ? usage : `etcd-warden: unknown command "${name}"\n\n${usage}`);
    return 2;
  }
  const command = await load();
  return command(rest, { out: process.stdout, err: process.stderr });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`etcd-warden: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
