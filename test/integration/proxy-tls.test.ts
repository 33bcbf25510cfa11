// TLS on both sides, certificate reload, and every htpasswd format a
// production nginx file may hold.
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCertificates, type TestCertificates } from '../fixtures/certs.js';
import { startEtcd, type EtcdProcess } from '../fixtures/etcd.js';
import { form, rawRequest } from '../fixtures/http.js';
import { basicAuth, htpasswdLine, startProxy, type ProxyProcess } from '../fixtures/proxy.js';

let certs: TestCertificates;
let etcd: EtcdProcess;

beforeAll(async () => {
  certs = await makeCertificates();
  etcd = await startEtcd('tls-upstream', { tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.ca } });
});

afterAll(async () => {
  await etcd?.stop();
  if (certs !== undefined) await rm(certs.dir, { recursive: true, force: true });
});

function servedCertificate(url: string, options: { minVersion?: 'TLSv1' | 'TLSv1.2'; maxVersion?: 'TLSv1.1' | 'TLSv1.3' } = {}): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port), rejectUnauthorized: false, ...options }, () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.end();
    });
    socket.on('error', reject);
  });
}

describe('TLS', () => {
  let proxy: ProxyProcess;
  beforeAll(async () => {
    proxy = await startProxy({
      upstream: etcd.clientUrl,
      config: { tls: { cert: certs.serverCert, key: certs.serverKey }, upstreamCa: certs.caCert, acls: { '/': [] } },
    });
  });
  afterAll(async () => {
    await proxy?.stop();
  });

  it('serves https and proxies to an https etcd verified with the configured CA', async () => {
    expect(proxy.url.startsWith('https://')).toBe(true);
    const put = await rawRequest(proxy.url, '/v2/keys/tls/k', { method: 'PUT', body: form({ value: 'secure' }), ca: certs.ca });
    expect(put.status).toBe(201);
    const direct = await rawRequest(etcd.clientUrl, '/v2/keys/tls/k', { ca: certs.ca });
    expect(JSON.parse(direct.body).node.value).toBe('secure');
  });

  it('refuses TLS 1.1', async () => {
    await expect(servedCertificate(proxy.url, { minVersion: 'TLSv1', maxVersion: 'TLSv1.1' })).rejects.toThrow();
  });

  it('exports the certificate expiry as a metric', async () => {
    const notAfter = new X509Certificate(await readFile(certs.serverCert)).validTo;
    const metrics = (await rawRequest(proxy.metricsUrl, '/metrics')).body;
    const exported = Number(/^etcd_warden_tls_certificate_expiry_timestamp_seconds (\S+)$/m.exec(metrics)?.[1]);
    expect(exported).toBe(new Date(notAfter).getTime() / 1000);
  });

  it('reloads the certificate on SIGHUP for new connections, and refuses a mismatched pair', async () => {
    const before = await servedCertificate(proxy.url);
    const renewed = await makeCertificates(60);
    try {
      await proxy.writeConfig({ tls: { cert: renewed.serverCert, key: renewed.serverKey }, upstreamCa: certs.caCert, acls: { '/': [] } });
      let mark = proxy.logs().length;
      proxy.signal('SIGHUP');
      await proxy.waitForLog((l) => l.msg === 'config reloaded', mark);
      const after = await servedCertificate(proxy.url);
      expect(after).not.toBe(before);

      // The key of one pair with the certificate of another.
      await proxy.writeConfig({ tls: { cert: certs.serverCert, key: renewed.serverKey }, upstreamCa: certs.caCert, acls: { '/': [] } });
      mark = proxy.logs().length;
      proxy.signal('SIGHUP');
      const refused = await proxy.waitForLog((l) => l.msg === 'config reload refused; the previous config stays in force', mark);
      expect(JSON.stringify(refused.errors)).toContain('tls.key: does not match the certificate');
      expect(await servedCertificate(proxy.url)).toBe(after);
    } finally {
      await rm(renewed.dir, { recursive: true, force: true });
    }
  });
});

describe('htpasswd formats an nginx file may hold', () => {
  it('accepts users hashed with bcrypt, apr1, SHA-512 crypt, SHA-256 crypt and {SHA}', async () => {
    const shaCrypt = (flag: '-5' | '-6', password: string): string => execFileSync('openssl', ['passwd', flag, password]).toString().trim();
    const proxy = await startProxy({
      upstream: etcd.clientUrl,
      htpasswd: [
        htpasswdLine('bcrypt-user', 'pw-bcrypt', 'bcrypt'),
        htpasswdLine('apr1-user', 'pw-apr1', 'apr1'),
        `sha512-user:${shaCrypt('-6', 'pw-sha512')}`,
        `sha256-user:${shaCrypt('-5', 'pw-sha256')}`,
        htpasswdLine('sha1-user', 'pw-sha1', 'sha1'),
      ],
      config: { upstreamCa: certs.caCert, acls: { '/': ['bcrypt-user', 'apr1-user', 'sha512-user', 'sha256-user', 'sha1-user'] } },
    });
    try {
      for (const [user, password] of [['bcrypt-user', 'pw-bcrypt'], ['apr1-user', 'pw-apr1'], ['sha512-user', 'pw-sha512'], ['sha256-user', 'pw-sha256'], ['sha1-user', 'pw-sha1']] as const) {
        const right = await rawRequest(proxy.url, `/v2/keys/formats/${user}`, { method: 'PUT', body: form({ value: user }), headers: { authorization: basicAuth(user, password) } });
        expect(right.status, user).toBe(201);
        const wrong = await rawRequest(proxy.url, `/v2/keys/formats/${user}`, { method: 'PUT', body: form({ value: 'x' }), headers: { authorization: basicAuth(user, password + 'x') } });
        expect(wrong.status, user).toBe(401);
      }
    } finally {
      await proxy.stop();
    }
  });

  it('refuses to start on a hash it cannot verify, naming the line and user', async () => {
    await expect(
      startProxy({ upstream: etcd.clientUrl, htpasswd: ['alice:plaintext-password'], config: { acls: { '/': ['alice'] } } }),
    ).rejects.toThrow(/line 1: user "alice"/);
  });
});
