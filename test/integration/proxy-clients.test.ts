// `etcd-warden clients`: who is still connected, for the reimage runbook.
import { spawnSync } from 'node:child_process';
import { request as httpRequest, type ClientRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClientsReport } from '../../proxy/clients.js';
import { startEtcd, type EtcdProcess } from '../fixtures/etcd.js';
import { basicAuth, cliPath, htpasswdLine, startProxy, type ProxyProcess } from '../fixtures/proxy.js';

let etcd: EtcdProcess;
let proxy: ProxyProcess;
const open: ClientRequest[] = [];

beforeAll(async () => {
  etcd = await startEtcd();
  proxy = await startProxy({
    upstream: etcd.clientUrl,
    htpasswd: [htpasswdLine('pybal', 'pw', 'sha1')],
    config: { acls: { '/': [] }, readAcls: { '/pools': ['pybal'] } },
  });
});

afterAll(async () => {
  for (const request of open) request.destroy();
  await proxy?.stop();
  await etcd?.stop();
});

function watchFrom(localAddress: string, path: string, headers: Record<string, string> = {}): Promise<void> {
  const url = new URL(proxy.url);
  return new Promise((resolve, reject) => {
    const request = httpRequest({ host: url.hostname, port: url.port, path, localAddress, headers, agent: false }, (response) => {
      response.resume();
      resolve();
    });
    request.on('error', reject);
    request.end();
    open.push(request);
  });
}

describe('etcd-warden clients', () => {
  it('lists open connections and watches by address, user, key and age', async () => {
    await watchFrom('127.0.0.7', '/v2/keys/pools/eqiad?wait=true&recursive=true', { authorization: basicAuth('pybal', 'pw') });
    await watchFrom('127.0.0.7', '/v2/keys/conftool?wait=true');
    await watchFrom('127.0.0.8', '/v2/keys/dns?wait=true');

    const json = spawnSync(process.execPath, [cliPath, 'clients', '--metrics', proxy.metricsUrl, '--json'], { encoding: 'utf8' });
    expect(json.status).toBe(0);
    const report = JSON.parse(json.stdout) as ClientsReport;
    expect(report.connections).toEqual(expect.arrayContaining([
      expect.objectContaining({ remote: '127.0.0.7', connections: 2 }),
      expect.objectContaining({ remote: '127.0.0.8', connections: 1 }),
    ]));
    expect(report.requests).toEqual(expect.arrayContaining([
      expect.objectContaining({ remote: '127.0.0.7', user: 'pybal', method: 'GET', key: '/pools/eqiad', watch: true }),
      expect.objectContaining({ remote: '127.0.0.7', user: null, key: '/conftool', watch: true }),
      expect.objectContaining({ remote: '127.0.0.8', key: '/dns', watch: true }),
    ]));

    const text = spawnSync(process.execPath, [cliPath, 'clients', '--metrics', proxy.metricsUrl], { encoding: 'utf8' });
    expect(text.stdout).toContain('3 requests in flight (3 watches)');
    expect(text.stdout).toMatch(/127\.0\.0\.7\s+pybal\s+GET\s+\/pools\/eqiad\s+yes/);
  });

  it('says which URL it could not read', () => {
    const result = spawnSync(process.execPath, [cliPath, 'clients', '--metrics', 'http://127.0.0.1:1'], { encoding: 'utf8' });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('cannot read http://127.0.0.1:1/clients');
  });
});
