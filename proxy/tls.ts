// How the proxy serves TLS, as a careful operator sets it: TLS 1.2 at least,
// forward-secret AEAD suites only, client certificates when a CA is given.
import type { SecureContextOptions } from 'node:tls';
import type { TlsMaterial } from '../config/load.js';

// Mozilla "intermediate": TLS 1.2 with forward-secret AEAD suites only. TLS
// 1.3's suites are Node's, reordered: Node prefers AES-256-GCM, and with
// AES-NI AES-128-GCM does the same job in 10 rounds instead of 14 (the
// server's order decides: honorCipherOrder).
const tlsCiphers = [
  'TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-CHACHA20-POLY1305', 'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/**
 * `ticketKeys`: the keys that seal session tickets (48 bytes). Proxy
 * processes sharing a port share them, so a client resumes its session on
 * whichever process accepts its next connection; by default each secure
 * context makes its own.
 */
export function tlsOptions(tls: TlsMaterial, ticketKeys?: Buffer): SecureContextOptions & { requestCert: boolean; rejectUnauthorized: boolean } {
  return {
    ...(ticketKeys === undefined ? {} : { ticketKeys }),
    cert: tls.cert,
    key: tls.key,
    minVersion: 'TLSv1.2',
    ciphers: tlsCiphers,
    honorCipherOrder: true,
    requestCert: tls.clientCa !== undefined,
    rejectUnauthorized: tls.clientCa !== undefined,
    ...(tls.clientCa === undefined ? {} : { ca: tls.clientCa }),
  };
}
