// `etcd-warden demo`, started and stopped as a user does: it prints the
// URLs and commands, the commands do what it says, and Ctrl-C (SIGINT)
// leaves no process and no temp dir behind.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientScript, debianPython, requirePythonEtcd, runClient } from '../fixtures/clients.js';
import { cliPath } from '../fixtures/proxy.js';

let demo: ChildProcess;
let output = '';
let exited: Promise<number | null>;

/** Every process below `root`, from one `ps` listing. */
function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const line of execFileSync('ps', ['-e', '-o', 'pid=,ppid=']).toString().split('\n')) {
    const [pid, ppid] = line.trim().split(/\s+/).map(Number);
    if (pid === undefined || ppid === undefined || Number.isNaN(pid)) continue;
    children.set(ppid, [...(children.get(ppid) ?? []), pid]);
  }
  const found: number[] = [];
  const visit = (pid: number): void => {
    for (const child of children.get(pid) ?? []) {
      found.push(child);
      visit(child);
    }
  };
  visit(root);
  return found;
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const curl = (line: string): string => execFileSync('bash', ['-c', line], { timeout: 20_000 }).toString();

beforeAll(async () => {
  demo = spawn(process.execPath, [cliPath, 'demo'], { stdio: ['ignore', 'pipe', 'pipe'] });
  demo.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  demo.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  exited = new Promise((resolve) => demo.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + 50_000;
  while (!output.includes('replication is running')) {
    if (demo.exitCode !== null) throw new Error(`the demo exited (${demo.exitCode}):\n${output}`);
    if (Date.now() > deadline) throw new Error(`the demo did not start within 50 s:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}, 60_000);

afterAll(async () => {
  if (demo.exitCode === null && demo.signalCode === null) {
    demo.kill('SIGINT');
    await exited;
  }
});

describe('clients that sync the member list, through the demo\'s proxy', () => {
  const demoValue = (name: RegExp): string => name.exec(output)?.[1] ?? '';
  const primaryProxy = (): string => demoValue(/behind the proxy at (https:\/\/\S+)/);
  const primaryEtcd = (): string => demoValue(/primary etcd +(http:\/\/\S+)/);
  const ca = (): string => join(demoValue(/temp dir (\S+)\)/), 'tls.crt');
  const inPrimaryEtcd = async (key: string): Promise<string | undefined> => {
    const response = await fetch(`${primaryEtcd()}/v2/keys${key}`);
    return response.status === 200 ? ((await response.json()) as { node: { value: string } }).node.value : undefined;
  };

  it('the printed etcdctl commands: anonymous refused (401) after etcdctl synced the member list, root written', async () => {
    const [anonymous, root] = output.split('\n').filter((line) => line.startsWith('  ETCDCTL_API=2 ')).map((line) => line.trim()) as [string, string];
    const refused = spawnSync('bash', ['-c', anonymous], { timeout: 20_000 });
    expect(refused.status).toBe(4);
    expect(refused.stderr.toString()).toContain('Error:  110: The request requires user authentication (Insufficient credentials) [0]');
    expect(await inPrimaryEtcd('/conftool/v1/demo/etcdctl')).toBeUndefined();
    expect(curl(root).trim()).toBe('root');
    expect(await inPrimaryEtcd('/conftool/v1/demo/etcdctl')).toBe('root');
  });

  it('etcdctl, syncing by default, sends every request to the proxy: none to etcd, none anonymous or with a wrong password gets through', async () => {
    const password = demoValue(/credentials +root \/ (\S+)/);
    for (const user of [[], ['-u', 'root:wrong'], ['-u', `nobody:${password}`]]) {
      const run = await runClient('etcdctl', ['--debug', '--endpoints', primaryProxy(), '--ca-file', ca(), ...user, 'set', '/conftool/v1/demo/sync', 'x'], { env: { ETCDCTL_API: '2' } });
      expect(run.code, run.stderr).toBe(4);
      expect(run.stderr).toContain('110: The request requires user authentication');
      // --debug prints the endpoints it synced and each request as a curl line: the member list, then the write, all at the proxy.
      expect(run.stderr).toContain(`Cluster-Endpoints: ${primaryProxy()}\n`);
      const targets = [...run.stderr.matchAll(/^cURL Command: curl -X \w+ (\S+)/gm)].map((match) => new URL(match[1] ?? '').origin);
      expect(targets.length).toBeGreaterThanOrEqual(2);
      expect(new Set(targets)).toEqual(new Set([primaryProxy()]));
    }
    expect(await inPrimaryEtcd('/conftool/v1/demo/sync')).toBeUndefined();
  });

  it('python-etcd with allow_reconnect=True learns only the proxy\'s URL, and an anonymous write is refused there', async () => {
    requirePythonEtcd();
    const run = await runClient(debianPython, [clientScript('member_sync.py'), primaryProxy(), '/conftool/v1/demo/python', '--ca', ca()]);
    expect(run.stderr).toBe('');
    const result = JSON.parse(run.stdout) as { machines: string[]; writes: Record<string, string> };
    expect(result.machines).toEqual([primaryProxy()]);
    expect(Object.values(result.writes)).toEqual(['EtcdInsufficientPermissions']);
    expect(await inPrimaryEtcd('/conftool/v1/demo/python')).toBeUndefined();
  });
});

describe('etcd-warden demo', () => {
  it('prints the URLs, the credentials and the commands to try', () => {
    expect(output).toMatch(/primary etcd +http:\/\/127\.0\.0\.1:\d+ +behind the proxy at https:\/\/127\.0\.0\.1:\d+/);
    expect(output).toMatch(/replica etcd +http:\/\/127\.0\.0\.1:\d+ +behind the read-only proxy at https:\/\/127\.0\.0\.1:\d+/);
    expect(output).toMatch(/credentials +root \/ \S+/);
    expect(output.split('\n').filter((line) => line.startsWith('  curl '))).toHaveLength(4);
  });

  it('the printed curl commands work: anonymous read, write to the primary, write refused by the replica, replicated read', async () => {
    const [read, write, refused, replicated] = output.split('\n').filter((line) => line.startsWith('  curl ')).map((line) => line.trim()) as [string, string, string, string];
    expect(JSON.parse(curl(read))).toMatchObject({ action: 'get', node: { key: '/conftool/v1/pools/eqiad/appservers/mw1001', value: '{"weight": 10, "pooled": "yes"}' } });
    expect(JSON.parse(curl(write))).toMatchObject({ action: 'set', node: { key: '/conftool/v1/pools/eqiad/appservers/mw1003', value: '{"weight": 5, "pooled": "yes"}' } });
    expect(curl(refused).trim()).toBe('{"errorCode":107,"message":"This cluster is in read-only mode","cause":"Cluster configured to be read-only","index":0}');
    const deadline = Date.now() + 15_000;
    let body = '';
    while (Date.now() < deadline) {
      body = curl(replicated);
      if (body.includes('"value":"{\\"weight\\": 5, \\"pooled\\": \\"yes\\"}"')) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(JSON.parse(body)).toMatchObject({ node: { key: '/conftool/v1/pools/eqiad/appservers/mw1003', value: '{"weight": 5, "pooled": "yes"}' } });
  });

  it('the printed operator commands report a healthy replica', () => {
    const commands = output.split('\n').filter((line) => line.startsWith('  node ')).map((line) => line.trim());
    expect(commands).toHaveLength(3);
    for (const command of commands) expect(() => curl(command), command).not.toThrow();
  });

  it('stops on SIGINT with exit 0, leaving no process and no temp dir', async () => {
    const dir = /temp dir (\S+)\)/.exec(output)?.[1] ?? '';
    expect(existsSync(dir)).toBe(true);
    const processes = descendants(demo.pid ?? 0);
    // two etcds, two proxies, the bundled mirror (plus the proxies' verifier threads, which are not processes)
    expect(processes.length).toBeGreaterThanOrEqual(5);
    demo.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(output).toContain('stopping the demo');
    expect(existsSync(dir)).toBe(false);
    expect(processes.filter(alive)).toEqual([]);
  });
});
