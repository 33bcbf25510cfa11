// `etcd-warden passwd USER`: prints an htpasswd line with a bcrypt hash, for
// operators without apache2-utils. The password comes from stdin (first
// line), never from argv, where `ps` and shell history would show it.
import { hashPasswordBcrypt } from '../../proxy/auth/password-hash.js';
import { positionalArguments, runCommand, UsageError } from './flags.js';

const USAGE = `usage: etcd-warden passwd USER
  Reads the password from the first line of stdin and prints
  USER:<bcrypt hash> for the htpasswd file, e.g.
    printf '%s\\n' "$PASSWORD" | etcd-warden passwd alice >> /etc/etcd-warden/htpasswd`;

// bcrypt ignores everything past 72 bytes; refusing is better than letting
// an operator believe the tail of a long passphrase matters.
const BCRYPT_MAX_PASSWORD_BYTES = 72;

/** `argv` is what follows `passwd` on the command line. Returns the exit code. */
export function passwdCommand(
  argv: readonly string[],
  stdin: NodeJS.ReadableStream,
  stdout: NodeJS.WritableStream,
  stderr: NodeJS.WritableStream,
): Promise<number> {
  return runCommand(argv, { name: 'passwd', usage: USAGE, flags: {}, usageExitCode: 2 }, { out: stdout, err: stderr }, async ({ positional }) => {
    const [user = ''] = positionalArguments(positional, ['USER']);
    // ':' ends the user field in htpasswd and in Basic credentials; whitespace
    // and control characters would not survive either.
    if (user === '' || /[:\s\p{Cc}]/u.test(user)) throw new UsageError(`invalid user name ${JSON.stringify(user)}: no ':', whitespace or control characters`);
    if ('isTTY' in stdin && stdin.isTTY === true) {
      stderr.write('Password (echoed; end with Enter): ');
    }
    const line = await readFirstLine(stdin);
    if (line === undefined) {
      stderr.write('etcd-warden passwd: the password on stdin is not valid UTF-8\n');
      return 1;
    }
    if (line === '') {
      stderr.write('etcd-warden passwd: empty password refused\n');
      return 1;
    }
    if (Buffer.byteLength(line, 'utf8') > BCRYPT_MAX_PASSWORD_BYTES) {
      stderr.write(`etcd-warden passwd: password longer than ${BCRYPT_MAX_PASSWORD_BYTES} bytes; bcrypt would ignore the rest\n`);
      return 1;
    }
    stdout.write(`${user}:${hashPasswordBcrypt(line)}\n`);
    return 0;
  });
}

/** The first line without its line ending; undefined when it is not UTF-8. */
async function readFirstLine(stdin: NodeJS.ReadableStream): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk);
    const newline = bytes.indexOf(0x0a);
    if (newline >= 0) {
      chunks.push(bytes.subarray(0, newline));
      break;
    }
    chunks.push(bytes);
  }
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks));
    return text.replace(/\r$/, '');
  } catch {
    return undefined;
  }
}
