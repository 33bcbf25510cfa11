// Why etcd must advertise the proxy's URL, and how the proxy says so when it
// does not: with etcd advertising its own listener (as the demo and the test
// fixtures did), etcdctl's default member sync and python-etcd's
// allow_reconnect go around the proxy and write anonymously.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientScript, debianPython, requirePythonEtcd, runClient } from '../fixtures/clients.js';
import { startEtcd, type EtcdProcess } from '../fixtures/etcd.js';
import { rawRequest } from '../fixtures/http.js';
import { startProxiedMember, type ProxiedMember } from '../fixtures/member.js';
import { htpasswdLine, startProxy, type LogLine, type ProxyProcess } from '../fixtures/proxy.js';
import { runCli } from './ops-helpers.js';

const users = [htpasswdLine('root', 'root-secret', 'sha1')];
const acls = { '/': ['root'] };

const inEtcd = async (etcdUrl: string, key: string): Promise<boolean> => (await rawRequest(etcdUrl, `/v2/keys${key}`)).status === 200;
const bypassLines = (proxy: ProxyProcess, from = 0): LogLine[] => proxy.logs().slice(from).filter((line) => String(line.msg).includes('goes around this proxy'));

describe('etcd advertising its own listener behind the proxy', () => {
  let etcd: EtcdProcess;
  let proxy: ProxyProcess;
  beforeAll(async () => {
    requirePythonEtcd();
    etcd = await startEtcd('misadvertised');
    proxy = await startProxy({ upstream: etcd.clientUrl, htpasswd: users, config: { acls } });
  });
  afterAll(async () => {
    await proxy?.stop();
    await etcd?.stop();
  });

  it('lets etcdctl (default sync) and python-etcd (allow_reconnect) write anonymously around the proxy: the reason for the rule', async () => {
    const ctl = await runClient('etcdctl', ['--endpoints', proxy.url, 'set', '/bypass/etcdctl', 'anonymous'], { env: { ETCDCTL_API: '2' } });
    expect(ctl.code).toBe(0);
    expect(await inEtcd(etcd.clientUrl, '/bypass/etcdctl')).toBe(true);
    const python = JSON.parse((await runClient(debianPython, [clientScript('member_sync.py'), proxy.url, '/bypass/python'])).stdout) as { machines: string[]; writes: Record<string, string> };
    expect(python.machines).toContain(etcd.clientUrl);
    expect(python.writes).toMatchObject({ [proxy.url]: 'EtcdInsufficientPermissions', [etcd.clientUrl]: 'written' });
  });

  it('is reported: an error naming the URL and the fix, the metric, /healthz, `etcd-warden health` and `check-config --online`', async () => {
    const [logged] = bypassLines(proxy).length > 0 ? bypassLines(proxy) : [await proxy.waitForLog((line) => String(line.msg).includes('goes around this proxy'))];
    expect(logged).toMatchObject({ level: 50, member: 'misadvertised', url: etcd.clientUrl });
    expect(String(logged?.fix)).toContain(`set \`advertise\` in this proxy's config to its public URL, start etcd with --advertise-client-urls set to that URL and --listen-client-urls ${etcd.clientUrl} (loopback only)`);

    const metrics = (await rawRequest(proxy.metricsUrl, '/metrics')).body;
    expect(metrics).toContain(`etcd_warden_member_url_bypass{member="misadvertised",url="${etcd.clientUrl}"} 1`);
    const health = JSON.parse((await rawRequest(proxy.metricsUrl, '/healthz')).body) as { status: string; problems: string[] };
    expect(health.status).toBe('degraded');
    expect(health.problems).toEqual([expect.stringContaining(`etcd member misadvertised advertises client URL ${etcd.clientUrl}, which is etcd's own client listener`)]);

    const cluster = await runCli(['health', '--endpoints', proxy.url, '--proxy-health', proxy.metricsUrl]);
    expect(cluster.code).toBe(1);
    expect(cluster.stdout).toContain(`problem: proxy ${proxy.metricsUrl} reports: etcd member misadvertised advertises client URL ${etcd.clientUrl}`);

    const check = await runCli(['check-config', '--config', proxy.configFile, '--online']);
    expect(check.code).toBe(1);
    expect(check.stderr).toContain(`error: etcd member misadvertised advertises client URL ${etcd.clientUrl}`);
    expect(check.stderr).toContain('fix: set `advertise`');
  });

  it('warns at start that without `advertise` only this plainest bypass can be seen', () => {
    expect(proxy.logs().some((line) => line.level === 40 && String(line.msg).startsWith('advertise is not set'))).toBe(true);
  });
});

describe('etcd advertising the proxy, checked again on SIGHUP', () => {
  let member: ProxiedMember;
  beforeAll(async () => {
    member = await startProxiedMember('advertised', { htpasswd: users, config: { acls } });
  });
  afterAll(async () => {
    await member?.stop();
  });

  const reload = async (advertise: string): Promise<number> => {
    const mark = member.proxy.logs().length;
    await member.proxy.writeConfig({ acls, listen: new URL(member.url).host, advertise });
    member.proxy.signal('SIGHUP');
    await member.proxy.waitForLog((line) => line.msg === 'config reloaded', mark);
    return mark;
  };
  const healthz = async (): Promise<{ status: string; problems: string[] }> => JSON.parse((await rawRequest(member.proxy.metricsUrl, '/healthz')).body) as { status: string; problems: string[] };

  it('is healthy and quiet, and `check-config --online` agrees', async () => {
    expect(await healthz()).toMatchObject({ status: 'ok', problems: [] });
    expect(bypassLines(member.proxy)).toEqual([]);
    expect((await rawRequest(member.proxy.metricsUrl, '/metrics')).body).not.toContain('etcd_warden_member_url_bypass{');
    const check = await runCli(['check-config', '--config', member.proxy.configFile, '--online']);
    expect(check.code).toBe(0);
    expect(check.stdout).toContain('every client URL etcd advertises goes through a proxy');
  });

  it('reports a reload whose `advertise` no longer matches what etcd advertises, and clears it when fixed', async () => {
    const mark = await reload('https://conf1001.example.org:4001');
    const [logged] = bypassLines(member.proxy, mark).length > 0 ? bypassLines(member.proxy, mark) : [await member.proxy.waitForLog((line) => String(line.msg).includes('goes around this proxy'), mark)];
    expect(logged).toMatchObject({ url: member.url, fix: 'start etcd with --advertise-client-urls https://conf1001.example.org:4001 and --listen-client-urls ' + member.etcd.clientUrl + ' (loopback only), then restart etcd' });
    expect((await healthz()).status).toBe('degraded');

    await reload(member.url);
    // The check runs right after the reload is logged.
    const deadline = Date.now() + 10_000;
    while ((await healthz()).status !== 'ok' && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await healthz()).toMatchObject({ status: 'ok', problems: [] });
    expect((await rawRequest(member.proxy.metricsUrl, '/metrics')).body).not.toContain('etcd_warden_member_url_bypass{');
  });
});
