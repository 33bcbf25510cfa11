// A proxy restart must look to every real client exactly like an etcd
// restart, and a SIGHUP must end nothing. Each client watches twice at the
// same time: straight on one etcd that is restarted, and through the proxy
// in front of another etcd while the proxy is restarted; what each client
// then prints or raises must be the same.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientScript, debianPython, etcdctlV2, jsonLines, requirePythonEtcd, startClient, type ClientResult, type RunningClient } from '../fixtures/clients.js';
import { startEtcd, type EtcdProcess } from '../fixtures/etcd.js';
import { form, rawRequest } from '../fixtures/http.js';
import { startProxiedMember, type ProxiedMember } from '../fixtures/member.js';

interface WatchClient {
  readonly name: string;
  readonly key: string;
  start(url: string): RunningClient;
  /** What its user sees, without addresses, ports or retry counts. */
  outcome(result: ClientResult): string;
}

const addresses = /\d+\.\d+\.\d+\.\d+:\d+/g;
const firstLine = (text: string): string => text.trim().split('\n')[0]?.replace(addresses, 'ADDR') ?? '';

/** python-etcd's lines, each raise or event once in a row (a retrying client raises once per attempt while the server is down). */
function pythonOutcome(result: ClientResult): string {
  const seen = jsonLines(result.stdout).map((line) => {
    const { raised, event } = line as { raised?: string; event?: { action: string; key: string; value: string } };
    return raised !== undefined ? `raised ${raised}` : `event ${event?.action ?? '?'} ${event?.key ?? '?'} ${event?.value ?? '?'}`;
  });
  const collapsed = seen.filter((entry, i) => entry !== seen[i - 1]);
  return [...collapsed, ...(result.stderr.trim() === '' ? [] : [`stderr ${firstLine(result.stderr)}`])].join('; ');
}

const python = (name: string, key: string, mode: string, ...flags: string[]): WatchClient => ({
  name,
  key,
  start: (url) => startClient(debianPython, [clientScript('watch.py'), url, key, mode, ...flags]),
  outcome: pythonOutcome,
});

// etcdctl's documented example, `exec-watch --recursive KEY -- CMD`: without
// a flag, `--` is dropped and the LAST argument is taken as the key
// (etcdctl/ctlv2/command/exec_watch_command.go), so CMD never runs.
const execWatch = (key: string): string[] => ['exec-watch', '--recursive', key, '--', 'sh', '-c', 'echo "executed $ETCD_WATCH_VALUE"'];

const etcdctl = (name: string, key: string, ...args: string[]): WatchClient => ({
  name,
  key,
  start: (url) => etcdctlV2(url, args[0] === 'exec-watch' ? execWatch(key) : [...args, key]),
  outcome: (result) => `exit ${result.code ?? result.signal ?? '?'}: ${firstLine(result.stderr)} | ${result.stdout.trim().split('\n').join(' ')}`,
});

const curl = (name: string, key: string, query: string): WatchClient => ({
  name,
  key,
  start: (url) => startClient('curl', ['-sS', '-N', `${url}/v2/keys${key}?${query}`]),
  outcome: (result) => {
    const body = result.stdout.trim() === '' ? '' : JSON.stringify(jsonLines(result.stdout).map((event) => {
      const { action, node } = event as { action: string; node: { key: string; value: string } };
      return `${action} ${node.key} ${node.value}`;
    }));
    return `exit ${result.code ?? result.signal ?? '?'}: ${firstLine(result.stderr)} ${body}`;
  },
});

const clients: readonly WatchClient[] = [
  python('python-etcd watch()', '/w/k', 'watch'),
  python('python-etcd read(wait=True)', '/w/k', 'read-wait'),
  python('python-etcd eternal_watch()', '/w/k', 'eternal'),
  python('python-etcd watch() that retries EtcdConnectionFailed', '/w/k', 'watch', '--retry'),
  python('python-etcd eternal_watch(recursive) that retries EtcdConnectionFailed', '/w/d', 'eternal', '--recursive', '--retry'),
  etcdctl('etcdctl watch', '/w/k', 'watch'),
  etcdctl('etcdctl watch --forever', '/w/k', 'watch', '--forever'),
  etcdctl('etcdctl watch --forever --recursive', '/w/d', 'watch', '--forever', '--recursive'),
  etcdctl('etcdctl exec-watch', '/w/k', 'exec-watch'),
  curl('curl long-poll', '/w/k', 'wait=true'),
  curl('curl recursive long-poll', '/w/d', 'wait=true&recursive=true'),
  curl('curl stream=true', '/w/d', 'wait=true&recursive=true&stream=true'),
];
const retrying = clients.filter((client) => client.name.includes('retries')).length;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function etcdWatchers(etcdUrl: string): Promise<number> {
  const metrics = (await rawRequest(etcdUrl, '/metrics')).body;
  return Number(metrics.split('\n').find((line) => line.startsWith('etcd_debugging_store_watchers '))?.split(' ')[1]);
}

async function untilWatchers(etcdUrl: string, count: number, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while ((await etcdWatchers(etcdUrl).catch(() => -1)) !== count) {
    if (Date.now() > deadline) throw new Error(`etcd never had ${count} watchers (${what}); it has ${await etcdWatchers(etcdUrl).catch(() => -1)}`);
    await sleep(50);
  }
}

/** Waits for every client to finish (up to 15 s), stops those still running, and returns what each did. */
async function settle(running: readonly RunningClient[]): Promise<string[]> {
  await Promise.race([Promise.all(running.map((client) => client.exited)), sleep(15_000)]);
  return Promise.all(running.map((client, i) => client.stop().then((result) => clients[i]?.outcome(result) ?? '')));
}

const write = (etcdUrl: string, key: string, value: string): Promise<unknown> => rawRequest(etcdUrl, `/v2/keys${key}`, { method: 'PUT', body: form({ value }) });

let direct: EtcdProcess;
let member: ProxiedMember;

beforeAll(async () => {
  requirePythonEtcd();
  direct = await startEtcd('restart-direct');
  // A grace period far above the test's timeout: a watch the proxy failed to end would hang its stop.
  member = await startProxiedMember('restart-proxied', { config: { acls: { '/': [] }, timeouts: { shutdownGraceMs: 120_000 } } });
});
afterAll(async () => {
  await member?.stop();
  await direct?.stop();
});

describe('a proxy restart, as each real client sees it', () => {
  it('is indistinguishable from an etcd restart for python-etcd, etcdctl and curl watches, and clients that retry get the next event', async () => {
    const straight = clients.map((client) => client.start(direct.clientUrl));
    const proxied = clients.map((client) => client.start(member.url));
    await untilWatchers(direct.clientUrl, clients.length, 'every client watching etcd directly');
    await untilWatchers(member.etcd.clientUrl, clients.length, 'every client watching through the proxy');

    const oldProxy = member.proxy;
    await Promise.all([direct.pause().then(() => direct.resume()), member.restartProxy()]);
    expect(oldProxy.child.exitCode).toBe(0);
    expect(oldProxy.logs().filter((line) => line.msg === 'requests still running after the shutdown grace period; closing their connections')).toEqual([]);

    // Clients that retry are watching again (a client that gave up never
    // comes back: the comparison below shows which); the next event reaches them.
    await untilWatchers(direct.clientUrl, retrying, 'the retrying clients back on etcd');
    await untilWatchers(member.etcd.clientUrl, retrying, 'the retrying clients back through the proxy').catch(() => undefined);
    for (const etcdUrl of [direct.clientUrl, member.etcd.clientUrl]) {
      await write(etcdUrl, '/w/k', 'after-restart');
      await write(etcdUrl, '/w/d/x', 'after-restart');
    }
    const [straightOutcomes, proxiedOutcomes] = await Promise.all([settle(straight), settle(proxied)]);
    const table = clients.map((client, i) => ({ client: client.name, etcdRestart: straightOutcomes[i], proxyRestart: proxiedOutcomes[i] }));
    console.table(table);
    expect(proxiedOutcomes).toEqual(straightOutcomes);

    // What each client does, as measured against etcd 3.4.23 (README "Signals").
    const outcome = (name: string): string | undefined => table.find((row) => row.client === name)?.proxyRestart;
    for (const name of ['python-etcd watch()', 'python-etcd read(wait=True)', 'python-etcd eternal_watch()']) expect(outcome(name)).toBe('raised EtcdConnectionFailed');
    expect(outcome('python-etcd watch() that retries EtcdConnectionFailed')).toBe('raised EtcdConnectionFailed; event set /w/k after-restart');
    expect(outcome('python-etcd eternal_watch(recursive) that retries EtcdConnectionFailed')).toBe('raised EtcdConnectionFailed; event set /w/d/x after-restart');
    for (const name of ['etcdctl watch', 'etcdctl watch --forever', 'etcdctl watch --forever --recursive', 'etcdctl exec-watch']) {
      expect(outcome(name)).toBe('exit 4: Error:  client: etcd cluster is unavailable or misconfigured; error #0: unexpected EOF | ');
    }
    for (const name of ['curl long-poll', 'curl recursive long-poll', 'curl stream=true']) {
      expect(outcome(name)).toBe('exit 18: curl: (18) transfer closed with outstanding read data remaining ');
    }
  });
});

describe('a SIGHUP, as each real client sees it', () => {
  it('ends no watch of any client: each still gets the next event', async () => {
    const running = clients.map((client) => client.start(member.url));
    await untilWatchers(member.etcd.clientUrl, clients.length, 'every client watching through the proxy');
    const mark = member.proxy.logs().length;
    member.proxy.signal('SIGHUP');
    await member.proxy.waitForLog((line) => line.msg === 'config reloaded', mark);
    await untilWatchers(member.etcd.clientUrl, clients.length, 'every watch still open after the reload');
    for (const client of running) expect(client.stdout() + client.stderr()).toBe('');

    await write(member.etcd.clientUrl, '/w/k', 'after-reload');
    await write(member.etcd.clientUrl, '/w/d/x', 'after-reload');
    // Some clients go on watching after the event: stop them once each has printed it.
    const deadline = Date.now() + 15_000;
    while (running.some((client) => !client.stdout().includes('after-reload')) && Date.now() < deadline) await sleep(50);
    const outcomes = await Promise.all(running.map((client, i) => client.stop().then((result) => clients[i]?.outcome(result))));
    console.table(clients.map((client, i) => ({ client: client.name, afterSighup: outcomes[i] })));
    const byName = new Map(clients.map((client, i) => [client.name, outcomes[i]]));
    for (const [name, value] of byName) {
      expect(value, name).not.toMatch(/raised|unexpected EOF|curl: \(/);
      expect(value, name).toContain('after-reload');
    }
    expect(byName.get('etcdctl watch')).toBe('exit 0:  | after-reload');
    expect(byName.get('etcdctl exec-watch')).toContain('executed after-reload');
    expect(byName.get('curl long-poll')).toBe('exit 0:  ["set /w/k after-reload"]');
  });
});
