// python-etcd (Debian's python3-etcd, what conftool and pybal use) through
// the proxy: every v2 operation it exposes gives what it gives straight
// against etcd, and every etcd error is raised as the same exception class.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientScript, debianPython, requirePythonEtcd, runClient } from '../fixtures/clients.js';
import { startEtcd, type EtcdProcess } from '../fixtures/etcd.js';
import { rawRequest } from '../fixtures/http.js';
import { startProxiedMember, type ProxiedMember } from '../fixtures/member.js';
import { IndexBase, normaliseIndexes, shapeOf } from '../fixtures/normalise.js';
import { basicAuth, htpasswdLine } from '../fixtures/proxy.js';
import { currentIndex, twinRuns } from '../fixtures/twin-runs.js';

interface Line {
  readonly name: string;
  readonly result?: unknown;
  readonly raised?: string;
  readonly errorCode?: number | null;
}

type Step = { readonly name: string } & Record<string, unknown>;

const call = (name: string, method: string, args: unknown[], kwargs: Record<string, unknown> = {}): Step => ({ name, call: method, args, kwargs });
const index = (step: string): { $index: string } => ({ $index: step });

// Each operation python-etcd exposes, and each etcd error code, in one plan.
const plan: readonly Step[] = [
  call('set', 'write', ['/py/k', 'v1']),
  call('get', 'read', ['/py/k']),
  call('get (alias)', 'get', ['/py/k']),
  call('mk', 'write', ['/py/new', 'n'], { prevExist: false }),
  call('mk an existing key (105)', 'write', ['/py/new', 'n'], { prevExist: false }),
  call('update with prevExist', 'write', ['/py/k', 'v2'], { prevExist: true }),
  call('update a missing key (100)', 'write', ['/py/missing', 'x'], { prevExist: true }),
  { name: 'update(obj)', update: '/py/k', value: 'v3' },
  call('CAS by value', 'test_and_set', ['/py/k', 'v4', 'v3']),
  call('CAS by value, wrong (101)', 'test_and_set', ['/py/k', 'v5', 'nope']),
  call('CAS by index', 'write', ['/py/k', 'v5'], { prevIndex: index('CAS by value') }),
  call('CAS by index, wrong (101)', 'write', ['/py/k', 'v6'], { prevIndex: 1 }),
  call('compare-and-delete by value', 'delete', ['/py/new'], { prevValue: 'n' }),
  call('mkdir', 'write', ['/py/dir', null], { dir: true }),
  call('a key in the directory', 'write', ['/py/dir/a', 'a']),
  call('a value on a directory (102)', 'write', ['/py/dir', 'x']),
  call('a key below a file (104)', 'write', ['/py/k/child', 'x']),
  call('delete a non-empty directory (108)', 'delete', ['/py/dir'], { dir: true }),
  call('in-order key 1', 'write', ['/py/queue', 'job1'], { append: true }),
  call('in-order key 2', 'write', ['/py/queue', 'job2'], { append: true }),
  call('in-order keys, sorted', 'read', ['/py/queue'], { sorted: true }),
  call('TTL', 'write', ['/py/ttl', 't'], { ttl: 300 }),
  call('refresh', 'refresh', ['/py/ttl'], { ttl: 600 }),
  call('a directory with a TTL', 'write', ['/py/ttldir', null], { dir: true, ttl: 300 }),
  call('recursive, sorted read', 'read', ['/py'], { recursive: true, sorted: true }),
  call('watch with waitIndex', 'watch', ['/py/k'], { index: index('set') }),
  call('recursive watch with waitIndex', 'watch', ['/py'], { index: index('mkdir'), recursive: true }),
  call('read(wait=True, waitIndex)', 'read', ['/py/k'], { wait: true, waitIndex: index('update with prevExist') }),
  call('pop', 'pop', ['/py/ttl']),
  call('delete', 'delete', ['/py/k']),
  call('delete a missing key (100)', 'delete', ['/py/k']),
  call('recursive delete', 'delete', ['/py/dir'], { recursive: true }),
  call('write the root (107)', 'write', ['/', 'x']),
  { name: 'members', property: 'members' },
  { name: 'leader', property: 'leader' },
  { name: 'machines', property: 'machines' },
  { name: 'stats', property: 'stats' },
  { name: 'leader_stats', property: 'leader_stats' },
  { name: 'store_stats', property: 'store_stats' },
  { name: 'version', property: 'version' },
  { name: 'cluster_version', property: 'cluster_version' },
  // etcd keeps the last 1000 events: a watch from before them is answered 401.
  { name: 'flood', flood: '/py/flood', count: 1005 },
  call('watch an index out of history (401)', 'watch', ['/py/queue'], { index: index('set') }),
];
// Counters and times: only their shape can be the same twice.
const volatileResults = new Set(['stats', 'leader_stats', 'store_stats']);

async function runPlan(url: string, steps: readonly Step[], ...flags: string[]): Promise<Line[]> {
  const run = await runClient(debianPython, [clientScript('python_etcd.py'), url, JSON.stringify(steps), ...flags]);
  if (run.stderr !== '') throw new Error(`python_etcd.py failed: ${run.stderr}`);
  return run.stdout.trim().split('\n').map((line) => JSON.parse(line) as Line);
}

describe('every python-etcd operation, straight to etcd and through the proxy', () => {
  let straight: Line[];
  let proxied: Line[];
  beforeAll(async () => {
    requirePythonEtcd();
    ({ straight, proxied } = await twinRuns('python', { config: { acls: { '/': [] } } }, async (url) => {
      const base = new IndexBase(await currentIndex(url));
      return (await runPlan(url, plan)).map((line) => ({
        ...line,
        ...(line.result === undefined ? {} : { result: volatileResults.has(line.name) ? shapeOf(line.result) : normaliseIndexes(line.result, base) }),
      }));
    }));
  }, 120_000);

  it.each(plan.map((step) => [step.name]))('%s', (name) => {
    const mine = proxied.find((line) => line.name === name);
    expect(mine).toBeDefined();
    expect(mine).toEqual(straight.find((line) => line.name === name));
  });

  it('raises each etcd error code as the class python-etcd maps it to', () => {
    const raised = (name: string): string | undefined => proxied.find((line) => line.name === name)?.raised;
    expect(raised('update a missing key (100)')).toBe('EtcdKeyNotFound');
    expect(raised('delete a missing key (100)')).toBe('EtcdKeyNotFound');
    expect(raised('CAS by value, wrong (101)')).toBe('EtcdCompareFailed');
    expect(raised('CAS by index, wrong (101)')).toBe('EtcdCompareFailed');
    expect(raised('a value on a directory (102)')).toBe('EtcdNotFile');
    expect(raised('a key below a file (104)')).toBe('EtcdNotDir');
    expect(raised('mk an existing key (105)')).toBe('EtcdAlreadyExist');
    expect(raised('write the root (107)')).toBe('EtcdRootReadOnly');
    expect(raised('delete a non-empty directory (108)')).toBe('EtcdDirNotEmpty');
    expect(raised('watch an index out of history (401)')).toBe('EtcdEventIndexCleared');
    // No other step raised anything.
    expect(proxied.filter((line) => line.raised !== undefined)).toHaveLength(10);
  });
});

describe('python-etcd and authentication: the proxy against etcd\'s own v2 auth', () => {
  // The same users on both sides: root may write, writer may not. etcd with
  // its v2 auth on and the guest role stripped is the reference for 110.
  let etcdWithAuth: EtcdProcess;
  let member: ProxiedMember;
  beforeAll(async () => {
    requirePythonEtcd();
    etcdWithAuth = await startEtcd('python-auth');
    const admin = { authorization: basicAuth('root', 'root-secret') };
    await rawRequest(etcdWithAuth.clientUrl, '/v2/auth/users/root', { method: 'PUT', body: '{"user":"root","password":"root-secret"}' });
    await rawRequest(etcdWithAuth.clientUrl, '/v2/auth/users/writer', { method: 'PUT', body: '{"user":"writer","password":"writer-secret"}', headers: admin });
    expect((await rawRequest(etcdWithAuth.clientUrl, '/v2/auth/enable', { method: 'PUT' })).status).toBe(200);
    await rawRequest(etcdWithAuth.clientUrl, '/v2/auth/roles/guest', { method: 'PUT', body: '{"role":"guest","revoke":{"kv":{"read":["/*"],"write":["/*"]}}}', headers: admin });
    member = await startProxiedMember('python-acl', {
      htpasswd: [htpasswdLine('root', 'root-secret', 'bcrypt'), htpasswdLine('writer', 'writer-secret', 'apr1')],
      config: { acls: { '/': ['root'] } },
    });
  });
  afterAll(async () => {
    await member?.stop();
    await etcdWithAuth?.stop();
  });

  const attempt = async (url: string, ...credentials: string[]): Promise<string> => {
    const [line] = await runPlan(url, [call('write', 'write', ['/auth/k', 'v'])], ...credentials);
    return line?.raised ?? 'written';
  };

  it.each([
    ['no credentials', []],
    ['a wrong password', ['--user', 'root', '--password', 'wrong']],
    ['an unknown user', ['--user', 'nobody', '--password', 'root-secret']],
    ['a user without the right to write there', ['--user', 'writer', '--password', 'writer-secret']],
    ['root', ['--user', 'root', '--password', 'root-secret']],
  ])('%s: the same outcome as with etcd\'s own auth', async (_name, credentials) => {
    const throughProxy = await attempt(member.url, ...credentials);
    expect(throughProxy).toBe(await attempt(etcdWithAuth.clientUrl, ...credentials));
    expect(throughProxy).toBe(credentials.includes('root-secret') && credentials.includes('root') ? 'written' : 'EtcdInsufficientPermissions');
  });
});

describe('python-etcd and the read-only switch', () => {
  let member: ProxiedMember;
  beforeAll(async () => {
    requirePythonEtcd();
    member = await startProxiedMember('python-readonly', { htpasswd: [htpasswdLine('root', 'root-secret', 'sha1')], config: { readOnly: true, acls: { '/': ['root'] } } });
  });
  afterAll(async () => {
    await member?.stop();
  });

  it('raises EtcdRootReadOnly on every write, as etcd does for its read-only root, while reads and watches from history go on', async () => {
    await rawRequest(member.etcd.clientUrl, '/v2/keys/ro/k', { method: 'PUT', body: 'value=before' });
    const lines = await runPlan(member.url, [
      call('write', 'write', ['/ro/k', 'v']),
      call('delete', 'delete', ['/ro/k']),
      call('mkdir', 'write', ['/ro/dir', null], { dir: true }),
      call('append', 'write', ['/ro/queue', 'job'], { append: true }),
      call('read', 'read', ['/ro/k']),
    ], '--user', 'root', '--password', 'root-secret');
    expect(lines.slice(0, 4).map((line) => [line.raised, line.errorCode])).toEqual(Array(4).fill(['EtcdRootReadOnly', 107]));
    expect(lines[4]?.result).toMatchObject({ key: '/ro/k', value: 'before' });
  });
});
