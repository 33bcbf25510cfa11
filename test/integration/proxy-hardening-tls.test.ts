// tls.clientCa: only clients holding a certificate signed by that CA get to
// speak HTTP at all; the others are refused in the handshake and write nothing.
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCertificates, type TestCertificates } from '../fixtures/certs.js';
import { makeClientCertificates, type ClientCertificates } from '../fixtures/client-certs.js';
import { startEtcd, type EtcdProcess } from '../fixtures/etcd.js';
import { etcdKeys, form } from '../fixtures/http.js';
import { startProxy, type ProxyProcess } from '../fixtures/proxy.js';
import { requestBytes, sendRaw } from './proxy-hardening-wire.js';

let certs: TestCertificates;
let clients: ClientCertificates;
let etcd: EtcdProcess;
let proxy: ProxyProcess;

beforeAll(async () => {
  certs = await makeCertificates();
  clients = await makeClientCertificates(certs);
  etcd = await startEtcd('client-certs');
  proxy = await startProxy({
    upstream: etcd.clientUrl,
    config: { tls: { cert: certs.serverCert, key: certs.serverKey, clientCa: certs.caCert }, acls: { '/open': [] } },
  });
});

afterAll(async () => {
  await proxy?.stop();
  await etcd?.stop();
  if (certs !== undefined) await rm(certs.dir, { recursive: true, force: true });
});

const put = (key: string, tls: { ca: Buffer; cert?: Buffer; key?: Buffer }) =>
  sendRaw(proxy.url, requestBytes('PUT', `/v2/keys/open/${key}`, { Connection: 'close' }, form({ value: key })), { tls, timeoutMs: 5_000 });

describe('client certificates (tls.clientCa)', () => {
  it('serves a client whose certificate the CA signed, and the write lands', async () => {
    const exchange = await put('with-cert', { ca: certs.ca, cert: clients.trusted.cert, key: clients.trusted.key });
    expect(exchange.responses.map((r) => r.status)).toEqual([201]);
    expect((await etcdKeys(etcd.clientUrl)).get('/open/with-cert')).toBe('with-cert');
  });

  it('refuses a client without a certificate: no HTTP answer, nothing written', async () => {
    const exchange = await put('without-cert', { ca: certs.ca });
    expect(exchange.responses).toEqual([]);
    expect(exchange.closedByServer).toBe(true);
    expect((await etcdKeys(etcd.clientUrl)).has('/open/without-cert')).toBe(false);
  });

  it('refuses a certificate signed by another CA: no HTTP answer, nothing written', async () => {
    const exchange = await put('stranger-cert', { ca: certs.ca, cert: clients.stranger.cert, key: clients.stranger.key });
    expect(exchange.responses).toEqual([]);
    expect(exchange.closedByServer).toBe(true);
    expect((await etcdKeys(etcd.clientUrl)).has('/open/stranger-cert')).toBe(false);
  });
});
