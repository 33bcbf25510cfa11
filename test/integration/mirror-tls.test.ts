// The mirror in the field with a private CA: the source behind a proxy that
// serves the test CA's certificate, the destination an etcd that wants a
// client certificate (--client-cert-auth). mirror, mirror-verify,
// mirror-status and health take the same TLS flags.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EtcdClient } from '../../mirror/etcd/client.js';
import { readTlsMaterial } from '../../mirror/etcd/tls.js';
import { makeCertificates, type TestCertificates } from '../fixtures/certs.js';
import { makeClientCertificates, type ClientCertificates } from '../fixtures/client-certs.js';
import { freePort, startEtcd, type EtcdProcess } from '../fixtures/etcd.js';
import { startMirrorProcess } from '../fixtures/mirror-process.js';
import { startProxy, type ProxyProcess } from '../fixtures/proxy.js';
import { waitFor } from './mirror-helpers.js';
import { runCli } from './ops-helpers.js';

let certs: TestCertificates;
let clientCerts: ClientCertificates;
let sourceEtcd: EtcdProcess;
let sourceProxy: ProxyProcess;
let replica: EtcdProcess;
/** The replica as the mirror reaches it: TLS with the trusted client certificate. */
let replicaClient: EtcdClient;
let sourceClient: EtcdClient;

const file = (name: string): string => join(certs.dir, name);
const mapping = ['--src-prefix', '/conftool', '--dst-prefix', '/conftool', '--strip'];
/** The same CA for both sides (--ca-file), the client certificate for the destination only (--dst-…). */
const tlsArgs = (): string[] => ['--ca-file', certs.caCert, '--dst-cert-file', file('client-trusted.crt'), '--dst-key-file', file('client-trusted.key')];

beforeAll(async () => {
  certs = await makeCertificates();
  clientCerts = await makeClientCertificates(certs);
  sourceEtcd = await startEtcd('tls-source');
  sourceProxy = await startProxy({ upstream: sourceEtcd.clientUrl, config: { tls: { cert: certs.serverCert, key: certs.serverKey }, acls: { '/': [] } } });
  replica = await startEtcd('tls-replica', { tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.ca, clientCa: certs.caCert, clientCert: clientCerts.trusted } });
  replicaClient = new EtcdClient(replica.clientUrl, {
    tls: await readTlsMaterial({ ca: { path: certs.caCert, setting: 'test' }, cert: { path: file('client-trusted.crt'), setting: 'test' }, key: { path: file('client-trusted.key'), setting: 'test' } }),
  });
  sourceClient = new EtcdClient(sourceEtcd.clientUrl);
  for (const [key, value] of [['/conftool/pools/a', 'pooled'], ['/conftool/pools/b', 'depooled']] as const) await sourceClient.put(key, { value });
}, 60_000);

afterAll(async () => {
  await Promise.all([replicaClient?.close(), sourceClient?.close()]);
  await sourceProxy?.stop();
  await Promise.all([sourceEtcd?.stop(), replica?.stop()]);
});

describe('the mirror with a private CA and client certificates', () => {
  it('replicates from a proxy serving a private CA\'s certificate into an etcd that requires a client certificate; mirror-verify and mirror-status take the same flags', async () => {
    const mirror = startMirrorProcess(['--reload', ...mapping, '--port', '0', '--status-host', '127.0.0.1', ...tlsArgs(), sourceProxy.url, replica.clientUrl]);
    try {
      await waitFor(async () => (await replicaClient.read('/conftool/pools/b'))?.value === 'depooled', 15_000, 'the replica to hold the source keys');
      await sourceClient.put('/conftool/pools/a', { value: 'drained' });
      await waitFor(async () => (await replicaClient.read('/conftool/pools/a'))?.value === 'drained', 15_000, 'a live event');

      const verify = await runCli(['mirror-verify', ...mapping, ...tlsArgs(), sourceProxy.url, replica.clientUrl]);
      expect(verify.stdout).toContain('equal: the replica holds exactly what the source holds');
      expect(verify.code).toBe(0);
      const withoutCa = await runCli(['mirror-verify', ...mapping, sourceProxy.url, replica.clientUrl]);
      expect(withoutCa.code).toBe(2);
      expect(withoutCa.stderr).toContain('the system trust store');

      const status = await runCli(['mirror-status', await mirror.statusUrl()]);
      expect(status.stdout).toMatch(/state\s+replicating/);
      expect(status.code).toBe(0);
      expect(mirror.lines().filter((line) => (line.level ?? 0) >= 40)).toEqual([]);
    } finally {
      expect(await mirror.stop()).toBe(0);
    }
  });

  it('logs a certificate failure once per side, at error, naming the file and the reason, instead of a warning at every retry', async () => {
    const mirror = startMirrorProcess([
      '--reload', ...mapping, '--port', '0', '--status-host', '127.0.0.1',
      // The source's certificate is not the stranger's; the replica refuses the stranger's client certificate.
      '--src-ca-file', file('stranger-ca.crt'), '--dst-ca-file', certs.caCert, '--dst-cert-file', file('client-stranger.crt'), '--dst-key-file', file('client-stranger.key'),
      sourceProxy.url, replica.clientUrl,
    ]);
    try {
      const source = await mirror.waitForLine((line) => line.msg?.startsWith('TLS to the source fails') === true);
      expect(source).toMatchObject({ level: 50, side: 'source', file: `--src-ca-file ${file('stranger-ca.crt')}` });
      expect(String(source.reason)).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|unable to verify/);
      // Several retries (100 ms, 200 ms, 400 ms … of backoff) later, still one line.
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      const errors = mirror.lines().filter((line) => line.level === 50);
      expect(errors.filter((line) => line.side === 'source')).toHaveLength(1);
      expect(mirror.lines().filter((line) => line.level === 40)).toEqual([]);
    } finally {
      await mirror.stop();
    }
    const destination = startMirrorProcess(['--reload', ...mapping, '--port', '0', '--status-host', '127.0.0.1', '--ca-file', certs.caCert, '--dst-cert-file', file('client-stranger.crt'), '--dst-key-file', file('client-stranger.key'), sourceProxy.url, replica.clientUrl]);
    try {
      const refused = await destination.waitForLine((line) => line.msg?.startsWith('TLS to the destination fails') === true);
      expect(refused).toMatchObject({ level: 50, side: 'destination', file: `--dst-cert-file ${file('client-stranger.crt')}` });
      expect(String(refused.reason)).toContain('bad certificate');
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      expect(destination.lines().filter((line) => line.level === 50 && line.side === 'destination')).toHaveLength(1);
    } finally {
      await destination.stop();
    }
  });

  it('refuses, naming the flag and the file, a TLS file it cannot read or a certificate without its key', async () => {
    const missing = await runCli(['mirror-verify', ...mapping, '--src-ca-file', '/nonexistent/ca.pem', sourceProxy.url, replica.clientUrl]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--src-ca-file: cannot read /nonexistent/ca.pem');
    const half = await runCli(['mirror', ...mapping, '--cert-file', file('client-trusted.crt'), sourceProxy.url, replica.clientUrl]);
    expect(half.code).toBe(2);
    expect(half.stderr).toContain('--cert-file needs its client key too');
  });

  it('the bundled mirror takes its source\'s CA from the config (mirror.srcCaFile), and check-config names a file it cannot read', async () => {
    const local = await startEtcd('tls-bundled-replica');
    const port = await freePort();
    const section = { src: sourceProxy.url, srcPrefix: '/conftool', port, reload: true };
    const proxy = await startProxy({ upstream: local.clientUrl, config: { acls: { '/': [] }, readOnly: true, mirror: { ...section, srcCaFile: certs.caCert } } });
    const localClient = new EtcdClient(local.clientUrl);
    try {
      await waitFor(async () => (await localClient.read('/conftool/pools/b'))?.value === 'depooled', 15_000, 'the bundled mirror to copy over TLS');
      await proxy.writeConfig({ acls: { '/': [] }, mirror: { ...section, srcCaFile: '/nonexistent/ca.pem' } });
      const checked = await runCli(['check-config', '--config', proxy.configFile]);
      expect(checked.code).toBe(1);
      expect(checked.stdout + checked.stderr).toContain('mirror.srcCaFile: cannot read /nonexistent/ca.pem');
    } finally {
      await localClient.close();
      await proxy.stop();
      await local.stop();
    }
  });

  it('health takes the same family (--ca-file, and --ca as before)', async () => {
    const trusted = await runCli(['health', '--endpoints', sourceProxy.url, '--ca-file', certs.caCert, '--json']);
    const alias = await runCli(['health', '--endpoints', sourceProxy.url, '--ca', certs.caCert, '--json']);
    const untrusted = await runCli(['health', '--endpoints', sourceProxy.url, '--json']);
    expect(JSON.parse(trusted.stdout)).toMatchObject({ clusterId: expect.any(String) });
    expect(JSON.parse(alias.stdout)).toMatchObject({ clusterId: expect.any(String) });
    expect(untrusted.code).toBe(2);
    expect(untrusted.stdout).toContain('the system trust store');
  });
});
