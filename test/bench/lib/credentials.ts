// The TLS certificate and the htpasswd file both nginx and etcd-warden use,
// made with the same tools an operator uses, one user per hash format so the
// table shows what each format costs.
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand } from './processes.js';

export interface TlsFiles {
  readonly cert: string;
  readonly key: string;
}

export async function makeSelfSignedCertificate(dir: string): Promise<TlsFiles> {
  const cert = join(dir, 'tls.crt');
  const key = join(dir, 'tls.key');
  await runCommand('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
  ], { timeoutMs: 30_000 });
  return { cert, key };
}

export type HashFormat = 'bcrypt' | 'apr1' | 'sha512';

export interface BenchUser {
  readonly name: string;
  readonly password: string;
  readonly format: HashFormat;
  /** The value of an Authorization header carrying this user's password. */
  readonly authorization: string;
}

export interface Htpasswd {
  readonly file: string;
  readonly root: BenchUser;
  readonly writers: Readonly<Record<HashFormat, BenchUser>>;
}

export function basicAuthorization(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

async function hashLine(user: string, password: string, format: HashFormat): Promise<string> {
  switch (format) {
    case 'bcrypt':
      // htpasswd's own default cost is 5; `etcd-warden passwd` and production use 10.
      return (await runCommand('htpasswd', ['-nbB', '-C', '10', user, password])).trim();
    case 'apr1':
      return (await runCommand('htpasswd', ['-nbm', user, password])).trim();
    case 'sha512':
      return `${user}:${(await runCommand('openssl', ['passwd', '-6', password])).trim()}`;
  }
}

export async function makeHtpasswd(dir: string): Promise<Htpasswd> {
  const password = `bench-${randomBytes(6).toString('hex')}`;
  const user = (name: string, format: HashFormat): BenchUser => ({ name, password, format, authorization: basicAuthorization(name, password) });
  const root = user('root', 'bcrypt');
  const writers = { bcrypt: user('writer-bcrypt', 'bcrypt'), apr1: user('writer-apr1', 'apr1'), sha512: user('writer-sha512', 'sha512') };
  const lines = await Promise.all([root, writers.bcrypt, writers.apr1, writers.sha512].map((u) => hashLine(u.name, u.password, u.format)));
  for (const line of lines) {
    // htpasswd -nbB prints nothing useful if the tool is too old for bcrypt; fail here, not as a 401 storm later.
    if (!/^[^:]+:\$(2y|apr1|6)\$/.test(line)) throw new Error(`unexpected htpasswd line: ${line}`);
  }
  const file = join(dir, 'htpasswd');
  await writeFile(file, lines.join('\n') + '\n', { mode: 0o644 });
  return { file, root, writers };
}
