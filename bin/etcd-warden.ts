#!/usr/bin/env node
// etcd-warden: one binary, several commands.
import { checkConfigCommand } from './commands/check-config.js';
import { clientsCommand } from './commands/clients.js';
import { demoCommand } from './commands/demo.js';
import type { CommandIo } from './commands/flags.js';
import { healthCommand } from './commands/health.js';
import { mirrorCommand } from './commands/mirror.js';
import { mirrorStatusCommand } from './commands/mirror-status.js';
import { mirrorVerifyCommand } from './commands/mirror-verify.js';
import { passwdCommand } from './commands/passwd.js';
import { proxyCommand } from './commands/proxy.js';
import { switchoverCommand } from './commands/switchover.js';

const usage = `usage: etcd-warden <command> [options]

commands:
  proxy --config FILE          run the TLS/auth/ACL proxy in front of an etcd member
  check-config --config FILE [--online]
                               validate a config file and everything it points at (exit 0 or the errors);
                               --online also checks that etcd advertises no client URL around the proxy
  mirror [options] SRC DST     replicate SRC's keyspace into DST (etcdmirror-compatible flags; --help)
  passwd USER                  read a password on stdin, print an htpasswd line (bcrypt, cost 10)
  clients --metrics URL        list open client connections and watches on a proxy (--json for scripts)
  health --endpoints URL[,URL] cluster health: members, leader, raft spread, read-only, mirror (exit 0/1/2)
  mirror-status URL            a running mirror's state, lag, index, source contact, resyncs
  mirror-verify [flags] SRC DST  compare a replica with its source key by key, writing nothing (exit 0 equal, 1 different)
  switchover --old-primary URL --new-primary URL --src-prefix P --dst-prefix P [--dry-run]
                               the checked etcd part of a datacenter switchover (--help for every flag)
  demo                         run two local etcd clusters with a proxy each and the mirror between them
`;

const commands: Readonly<Record<string, (argv: readonly string[], io: CommandIo) => Promise<number>>> = {
  proxy: proxyCommand,
  'check-config': checkConfigCommand,
  mirror: mirrorCommand,
  passwd: (argv, io) => passwdCommand(argv, process.stdin, io.out, io.err),
  clients: clientsCommand,
  health: healthCommand,
  'mirror-status': mirrorStatusCommand,
  'mirror-verify': mirrorVerifyCommand,
  switchover: switchoverCommand,
  demo: demoCommand,
};

async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === 'help' || name === '-h' || name === '--help') {
    process.stdout.write(usage);
    return 0;
  }
  const command = name !== undefined && Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (command === undefined) {
    process.stderr.write(name === undefined ? usage : `etcd-warden: unknown command "${name}"\n\n${usage}`);
    return 2;
  }
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
