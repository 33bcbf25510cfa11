// etcdctl in v2 mode (Debian's etcd-client), syncing the member list as it
// does by default: every v2 command prints and exits through the proxy as it
// does straight against etcd, errors included, except the admin-only
// endpoints the README lists.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { etcdctlV2, type ClientResult } from '../fixtures/clients.js';
import { startEtcd, type EtcdProcess } from '../fixtures/etcd.js';
import { rawRequest } from '../fixtures/http.js';
import { startProxiedMember, type ProxiedMember } from '../fixtures/member.js';
import { IndexBase, normaliseIndexes } from '../fixtures/normalise.js';
import { basicAuth, htpasswdLine } from '../fixtures/proxy.js';
import { currentIndex, twinRuns } from '../fixtures/twin-runs.js';

interface Printed {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

interface Run {
  /** modifiedIndex printed by an earlier `-o json` step. */
  index(step: string): number;
}

interface CtlStep {
  readonly name: string;
  readonly args: readonly string[] | ((run: Run) => readonly string[]);
}

const json = (...args: string[]): string[] => ['-o', 'json', ...args];

const steps: readonly CtlStep[] = [
  { name: 'set', args: ['set', '/ctl/k', 'v1'] },
  { name: 'get', args: ['get', '/ctl/k'] },
  { name: 'get -o json', args: json('get', '/ctl/k') },
  { name: 'get -o extended', args: ['-o', 'extended', 'get', '/ctl/k'] },
  { name: 'get a missing key (100)', args: ['get', '/ctl/missing'] },
  { name: 'mk', args: ['mk', '/ctl/new', 'n'] },
  { name: 'mk an existing key (105)', args: ['mk', '/ctl/new', 'n'] },
  { name: 'update', args: ['update', '/ctl/k', 'v2'] },
  { name: 'update a missing key (100)', args: ['update', '/ctl/missing', 'x'] },
  { name: 'CAS by value', args: ['set', '--swap-with-value', 'v2', '/ctl/k', 'v3'] },
  { name: 'CAS by value, wrong (101)', args: ['set', '--swap-with-value', 'nope', '/ctl/k', 'v4'] },
  { name: 'index for CAS', args: json('get', '/ctl/k') },
  { name: 'CAS by index', args: (run) => ['set', '--swap-with-index', String(run.index('index for CAS')), '/ctl/k', 'v4'] },
  { name: 'CAS by index, wrong (101)', args: ['set', '--swap-with-index', '1', '/ctl/k', 'v5'] },
  { name: 'compare-and-delete by value', args: ['rm', '--with-value', 'n', '/ctl/new'] },
  { name: 'compare-and-delete by value, wrong (101)', args: ['rm', '--with-value', 'nope', '/ctl/k'] },
  { name: 'mk for compare-and-delete by index', args: json('mk', '/ctl/cad', 'x') },
  { name: 'compare-and-delete by index', args: (run) => ['rm', '--with-index', String(run.index('mk for compare-and-delete by index')), '/ctl/cad'] },
  { name: 'mkdir', args: ['mkdir', '/ctl/dir'] },
  { name: 'mkdir an existing directory (105)', args: ['mkdir', '/ctl/dir'] },
  { name: 'a key in the directory', args: ['set', '/ctl/dir/a', 'a'] },
  { name: 'a value on a directory (102)', args: ['set', '/ctl/dir', 'x'] },
  { name: 'a key below a file (104)', args: ['set', '/ctl/k/child', 'x'] },
  { name: 'get a directory', args: ['get', '/ctl/dir'] },
  { name: 'rmdir a non-empty directory (108)', args: ['rmdir', '/ctl/dir'] },
  { name: 'in-order key 1', args: ['mk', '--in-order', '/ctl/queue', 'job1'] },
  { name: 'in-order key 2', args: ['mk', '--in-order', '/ctl/queue', 'job2'] },
  { name: 'in-order keys, sorted', args: ['ls', '--sort', '/ctl/queue'] },
  { name: 'set with a TTL', args: ['set', '--ttl', '300', '/ctl/ttl', 't'] },
  { name: 'update the TTL', args: ['update', '--ttl', '600', '/ctl/ttl', 't'] },
  { name: 'setdir with a TTL', args: ['setdir', '--ttl', '300', '/ctl/ttldir'] },
  { name: 'updatedir the TTL', args: ['updatedir', '--ttl', '600', '/ctl/ttldir'] },
  // Without --sort, etcd lists a directory in Go's map order: one child only.
  { name: 'ls', args: ['ls', '/ctl/dir'] },
  { name: 'ls --recursive --sort -p', args: ['ls', '--recursive', '--sort', '-p', '/ctl'] },
  { name: 'ls --quorum -o json', args: json('ls', '--quorum', '/ctl/dir') },
  { name: 'watch --after-index (answered from history)', args: (run) => ['watch', '--after-index', String(run.index('get -o json')), '/ctl/k'] },
  { name: 'watch --recursive --after-index', args: (run) => ['watch', '--recursive', '--after-index', String(run.index('get -o json')), '/ctl'] },
  { name: 'rm', args: ['rm', '/ctl/k'] },
  { name: 'rm a missing key (100)', args: ['rm', '/ctl/k'] },
  { name: 'rm --recursive', args: ['rm', '--recursive', '/ctl/dir'] },
  { name: 'rmdir an empty directory', args: ['rmdir', '/ctl/ttldir'] },
  { name: 'rm the root (107)', args: ['rm', '--recursive', '/'] },
  { name: 'member list', args: ['member', 'list'] },
  { name: 'cluster-health', args: ['cluster-health'] },
  { name: 'user list, anonymous', args: ['user', 'list'] },
  { name: 'user list, as an admin', args: ['-u', 'root:root-secret', 'user', 'list'] },
  { name: 'role list, as an admin', args: ['-u', 'root:root-secret', 'role', 'list'] },
];

const differences: Readonly<Record<string, { readonly why: string; readonly printed: Printed }>> = {
  'user list, anonymous': {
    why: '/v2/auth/* needs an admin through the proxy (etcd would let anyone enable auth)',
    printed: { code: 1, stdout: '', stderr: 'The request requires user authentication\n' },
  },
};

async function runSteps(url: string, plan: readonly CtlStep[]): Promise<Map<string, Printed>> {
  const base = new IndexBase(await currentIndex(url));
  const raw = new Map<string, ClientResult>();
  const printed = new Map<string, Printed>();
  const run: Run = {
    index: (step) => (JSON.parse(raw.get(step)?.stdout ?? '{}') as { node?: { modifiedIndex?: number } }).node?.modifiedIndex ?? 0,
  };
  // etcd's error lines end with "[index]", and 401's cause holds "[first/asked]".
  const indexesInText = (text: string): string =>
    text.replaceAll(url, '<endpoint>').replace(/\[(\d+)(?:\/(\d+))?\]/g, (_all, a: string, b: string | undefined) => `[${base.offset(Number(a))}${b === undefined ? '' : `/${base.offset(Number(b))}`}]`);
  for (const step of plan) {
    const args = typeof step.args === 'function' ? step.args(run) : step.args;
    const result = await etcdctlV2(url, args).exited;
    raw.set(step.name, result);
    let stdout = indexesInText(result.stdout);
    if (args.includes('json')) stdout = stdout.split('\n').map((line) => (line.startsWith('{') ? JSON.stringify(normaliseIndexes(JSON.parse(line), base)) : line)).join('\n');
    if (args.includes('extended')) stdout = stdout.replace(/^(Created-Index|Modified-Index|Index): (\d+)$/gm, (_all, field: string, value: string) => `${field}: ${base.offset(Number(value))}`);
    printed.set(step.name, { code: result.code, stdout, stderr: indexesInText(result.stderr) });
  }
  return printed;
}

describe('every etcdctl v2 command, straight to etcd and through the proxy', () => {
  let straight: Map<string, Printed>;
  let proxied: Map<string, Printed>;
  beforeAll(async () => {
    ({ straight, proxied } = await twinRuns('etcdctl', { htpasswd: [htpasswdLine('root', 'root-secret', 'sha1')], config: { acls: { '/': [] } } }, async (url) => {
      const printed = await runSteps(url, steps);
      // etcd keeps the last 1000 events: a watch from before them is refused with 401.
      for (let i = 0; i < 1005; i++) await rawRequest(url, '/v2/keys/ctl/flood', { method: 'PUT', body: `value=${i}` });
      const cleared = await runSteps(url, [{ name: 'watch an index out of history (401)', args: ['watch', '--after-index', '1', '/ctl/flood'] }]);
      return new Map([...printed, ...cleared]);
    }, { straightAdvertises: 'itself' }));
  }, 120_000);
  afterAll(() => {
    const line = (printed: Printed | undefined): string => `${printed?.code ?? '?'} ${(printed?.stdout.trim() || printed?.stderr.trim() || '').split('\n')[0]?.slice(0, 70) ?? ''}`;
    console.table([...(straight ?? new Map<string, Printed>()).keys()].map((name) => ({ command: name, etcd: line(straight.get(name)), proxy: line(proxied.get(name)) })));
  });

  it.each([...steps.map((step) => step.name), 'watch an index out of history (401)'].filter((name) => differences[name] === undefined).map((name) => [name]))('%s', (name) => {
    expect(proxied.get(name)).toEqual(straight.get(name));
  });

  it.each(Object.entries(differences))('%s: differs as documented', (name, difference) => {
    expect(proxied.get(name)).toEqual(difference.printed);
    expect(straight.get(name)).not.toEqual(difference.printed);
  });

  it('prints each etcd error as etcd sent it, exit 4', () => {
    const error = (name: string): string => `${proxied.get(name)?.code ?? '?'} ${proxied.get(name)?.stderr.trim() ?? ''}`;
    expect(error('get a missing key (100)')).toMatch(/^4 Error: {2}100: Key not found \(\/ctl\/missing\) \[@\+\d+\]$/);
    expect(error('CAS by value, wrong (101)')).toMatch(/^4 Error: {2}101: Compare failed \(\[nope != v3\]\) \[@\+\d+\]$/);
    expect(error('a value on a directory (102)')).toMatch(/^4 Error: {2}102: Not a file \(\/ctl\/dir\) \[@\+\d+\]$/);
    expect(error('a key below a file (104)')).toMatch(/^4 Error: {2}104: Not a directory \(\/ctl\/k\) \[@\+\d+\]$/);
    expect(error('mk an existing key (105)')).toMatch(/^4 Error: {2}105: Key already exists \(\/ctl\/new\) \[@\+\d+\]$/);
    expect(error('rm the root (107)')).toMatch(/^4 Error: {2}107: Root is read only \(\/\) \[@\+\d+\]$/);
    expect(error('rmdir a non-empty directory (108)')).toMatch(/^4 Error: {2}108: Directory not empty \(\/ctl\/dir\) \[@\+\d+\]$/);
    expect(error('watch an index out of history (401)')).toMatch(/^4 Error: {2}401: The event in requested index is outdated and cleared \(the requested history has been cleared \[@[+-]\d+\/@[+-]\d+\]\) \[@[+-]\d+\]$/);
  });
});

describe('etcdctl and authentication: the proxy against etcd\'s own v2 auth', () => {
  let etcdWithAuth: EtcdProcess;
  let member: ProxiedMember;
  beforeAll(async () => {
    etcdWithAuth = await startEtcd('etcdctl-auth');
    const admin = { authorization: basicAuth('root', 'root-secret') };
    await rawRequest(etcdWithAuth.clientUrl, '/v2/auth/users/root', { method: 'PUT', body: '{"user":"root","password":"root-secret"}' });
    await rawRequest(etcdWithAuth.clientUrl, '/v2/auth/users/writer', { method: 'PUT', body: '{"user":"writer","password":"writer-secret"}', headers: admin });
    expect((await rawRequest(etcdWithAuth.clientUrl, '/v2/auth/enable', { method: 'PUT' })).status).toBe(200);
    await rawRequest(etcdWithAuth.clientUrl, '/v2/auth/roles/guest', { method: 'PUT', body: '{"role":"guest","revoke":{"kv":{"read":["/*"],"write":["/*"]}}}', headers: admin });
    member = await startProxiedMember('etcdctl-acl', {
      htpasswd: [htpasswdLine('root', 'root-secret', 'bcrypt'), htpasswdLine('writer', 'writer-secret', 'apr1')],
      config: { acls: { '/': ['root'] } },
    });
  });
  afterAll(async () => {
    await member?.stop();
    await etcdWithAuth?.stop();
  });

  it.each([
    ['no credentials', []],
    ['a wrong password', ['-u', 'root:wrong']],
    ['an unknown user', ['-u', 'nobody:root-secret']],
    ['a user without the right to write there', ['-u', 'writer:writer-secret']],
    ['root', ['-u', 'root:root-secret']],
  ])('%s: the same output and exit code as with etcd\'s own auth', async (name, credentials) => {
    const through = await etcdctlV2(member.url, [...credentials, 'set', '/auth/k', 'v']).exited;
    const reference = await etcdctlV2(etcdWithAuth.clientUrl, [...credentials, 'set', '/auth/k', 'v']).exited;
    expect({ code: through.code, stdout: through.stdout, stderr: through.stderr }).toEqual({ code: reference.code, stdout: reference.stdout, stderr: reference.stderr });
    if (name === 'root') expect(through.stdout).toBe('v\n');
    else expect(through.stderr).toBe('Error:  110: The request requires user authentication (Insufficient credentials) [0]\n');
  });
});

describe('etcdctl and the read-only switch', () => {
  let member: ProxiedMember;
  beforeAll(async () => {
    member = await startProxiedMember('etcdctl-readonly', { htpasswd: [htpasswdLine('root', 'root-secret', 'sha1')], config: { readOnly: true, acls: { '/': ['root'] } } });
    await rawRequest(member.etcd.clientUrl, '/v2/keys/ro/k', { method: 'PUT', body: 'value=before' });
  });
  afterAll(async () => {
    await member?.stop();
  });

  it.each([
    ['set', ['set', '/ro/k', 'v']],
    ['mk', ['mk', '/ro/new', 'v']],
    ['rm', ['rm', '/ro/k']],
    ['mkdir', ['mkdir', '/ro/dir']],
    ['mk --in-order', ['mk', '--in-order', '/ro/queue', 'job']],
  ])('refuses %s with etcd\'s 107 (exit 4), even for root', async (_name, args) => {
    const run = await etcdctlV2(member.url, ['-u', 'root:root-secret', ...args]).exited;
    expect(run.code).toBe(4);
    expect(run.stderr).toBe('Error:  107: This cluster is in read-only mode (Cluster configured to be read-only) [0]\n');
  });

  it('still serves reads', async () => {
    expect((await etcdctlV2(member.url, ['get', '/ro/k']).exited).stdout).toBe('before\n');
  });
});
