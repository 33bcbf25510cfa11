// Pure parts of the mirror in the field: which certificate a TLS failure is
// about (and which file to name), and the mirror's own Prometheus text.
import { describe, expect, it } from 'vitest';
import { certificateProblem, describeCertificateProblem, type TlsMaterial } from '../../mirror/etcd/tls.js';
import { createMirrorMetrics } from '../../mirror/metrics.js';
import { humanStop } from '../../mirror/stop.js';
import { StrictReplicationError } from '../../mirror/apply.js';

const file = (path: string, setting: string) => ({ path, pem: Buffer.from(''), setting });
const material: TlsMaterial = { ca: file('/etc/ca.pem', '--src-ca-file'), cert: file('/etc/c.pem', '--dst-cert-file'), key: file('/etc/k.pem', '--dst-key-file') };

describe('certificateProblem', () => {
  it.each([
    ['node: the server certificate does not verify', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unable to verify the first certificate', material, { whose: 'server', file: '--src-ca-file /etc/ca.pem', reason: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE: unable to verify the first certificate' }],
    ['node: a self-signed server, no CA file', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'self-signed certificate', undefined, { whose: 'server', file: 'the system trust store (no CA file given)' }],
    ['node: a server name that does not match', 'ERR_TLS_CERT_ALTNAME_INVALID', "Hostname/IP does not match certificate's altnames", material, { whose: 'server' }],
    ['node: the server refused our certificate',
      'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE', '80EC0E39607F0000:error:0A000412:SSL routines:ssl3_read_bytes:sslv3 alert bad certificate:../deps/openssl/openssl/ssl/record/rec_layer_s3.c:1601:SSL alert number 42\n',
      material, { whose: 'client', file: '--dst-cert-file /etc/c.pem', reason: 'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE: sslv3 alert bad certificate (SSL alert number 42)' }],
    ['node: TLS 1.3, a certificate required and none given', 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', 'tlsv13 alert certificate required', undefined, { whose: 'client', file: 'no client certificate given' }],
    ['grpc-js: the server certificate does not verify', undefined, 'No connection established. Last error: Error: unable to verify the first certificate. Resolution note: ', material, { whose: 'server', reason: 'unable to verify the first certificate' }],
    ['grpc-js: the server refused our certificate', undefined, 'No connection established. Last error: 80EC:error:0A000412:SSL routines:ssl3_read_bytes:sslv3 alert bad certificate:x.c:1601:SSL alert number 42\n (2026-12-02T00:05:27.888Z). Resolution note: ', material, { whose: 'client', reason: 'sslv3 alert bad certificate (SSL alert number 42)' }],
  ] as const)('%s', (_what, code, message, tls, expected) => {
    expect(certificateProblem(code, message, tls)).toMatchObject(expected);
  });

  it.each([
    ['a refused connection', 'ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:1'],
    ['a reset', 'ECONNRESET', 'socket hang up'],
    ['gRPC unavailable for another reason', undefined, 'No connection established. Last error: connect ECONNREFUSED 127.0.0.1:2379'],
  ])('is no certificate problem for %s', (_what, code, message) => {
    expect(certificateProblem(code, message, material)).toBeUndefined();
  });

  it('says whose certificate and which file in one line', () => {
    expect(describeCertificateProblem({ whose: 'server', file: '--src-ca-file /etc/ca.pem', reason: 'r' })).toBe("the server's certificate does not verify against --src-ca-file /etc/ca.pem: r");
    expect(describeCertificateProblem({ whose: 'client', file: '--dst-cert-file /c', reason: 'r' })).toBe('the server refused the client certificate (--dst-cert-file /c): r');
  });
});

describe('the mirror\'s metrics text', () => {
  it('keeps etcdmirror\'s names, counts by label, and reads the lag at each scrape', () => {
    let lag = 3;
    const metrics = createMirrorMetrics(() => lag);
    metrics.replicatedEvents.inc();
    metrics.replicatedEvents.inc(4);
    metrics.resyncs.inc({ reason: 'reload' });
    metrics.writeLatency.observe(0.003);
    metrics.setState('stopped');
    lag = 7;
    const text = metrics.registry.text();
    for (const line of [
      '# TYPE etcdmirror_replicated_events_total counter',
      'etcdmirror_replicated_events_total 5',
      'etcd_warden_mirror_resyncs_total{reason="index_cleared"} 0',
      'etcd_warden_mirror_resyncs_total{reason="reload"} 1',
      'etcdmirror_write_latency_bucket{le="0.0025"} 0',
      'etcdmirror_write_latency_bucket{le="0.005"} 1',
      'etcdmirror_write_latency_bucket{le="+Inf"} 1',
      'etcdmirror_write_latency_sum 0.003',
      'etcdmirror_write_latency_count 1',
      'etcd_warden_mirror_state{state="stopped"} 1',
      'etcd_warden_mirror_state{state="replicating"} 0',
      'etcdmirror_lag 7',
      'etcd_warden_mirror_strict_failures_total 0',
    ]) expect(text.split('\n')).toContain(line);
  });

  it('labels every series of a v3 mirror with its api, after its own labels', () => {
    const text = createMirrorMetrics(() => 0, 'v2-to-v3').registry.text();
    expect(text).toContain('etcd_warden_mirror_state{state="replicating",api="v2-to-v3"} 1');
    expect(text).toContain('etcdmirror_lag{api="v2-to-v3"} 0');
    expect(text).toContain('etcdmirror_load_time_bucket{le="0.1",api="v2-to-v3"} 0');
  });
});

describe('humanStop', () => {
  it('keeps the key, both values, the index and the action of a strictness stop for /status', () => {
    const error = new StrictReplicationError('/conftool/k', 'value "one"', 'value "hand-edited"', 42, 'set');
    expect(humanStop(error, new Date(0))).toEqual({ reason: error.message, at: '1970-01-01T00:00:00.000Z', key: '/conftool/k', source: 'value "one"', replica: 'value "hand-edited"', index: 42, action: 'set' });
  });
  it('is nothing for an error a restart can cure', () => {
    expect(humanStop(new Error('no valid replication index: restart with --reload'))).toBeUndefined();
  });
});
