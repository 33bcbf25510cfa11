#!/usr/bin/env node
// etcd-warden: one binary, several commands.
import { passwdCommand } from '../proxy/auth/passwd-command.js';
import { checkConfigCommand, proxyCommand } from '../proxy/main.js';
import { mirrorCommand } from '../mirror/cli.js';
import { clientsCommand } from '../proxy/ops/clients.js';
import { healthCommand } from '../proxy/ops/health.js';
import { mirrorStatusCommand } from '../mirror/ops/mirror-status.js';
import { mirrorVerifyCommand } from '../mirror/ops/verify-command.js';
import { switchoverCommand } from '../mirror/ops/switchover-command.js';
import { demoCommand } from './demo.js';

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

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'proxy':
      return proxyCommand(rest);
    case 'check-config':
      return checkConfigCommand(rest);
    case 'mirror':
      return mirrorCommand(rest);
    case 'clients':
      return clientsCommand(rest, process.stdout, process.stderr);
    case 'health':
      return healthCommand(rest);
    case 'mirror-status':
      return mirrorStatusCommand(rest);
    case 'mirror-verify':
      return mirrorVerifyCommand(rest);
    case 'switchover':
      return switchoverCommand(rest);
    case 'demo':
      return demoCommand();
    case 'passwd':
      return passwdCommand(rest, process.stdin, process.stdout, process.stderr);
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(usage);
      return 0;
    default:
      process.stderr.write(command === undefined ? usage : `etcd-warden: unknown command "${command}"\n\n${usage}`);
      return 2;
  }
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
