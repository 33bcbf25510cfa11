import { describe, expect, it } from 'vitest';
import { clientResponseHeaders, upstreamRequestHeaders } from '../../proxy/upstream.js';

describe('upstreamRequestHeaders', () => {
  it('never forwards credentials or hop-by-hop headers, and sets X-Forwarded-For and X-Real-IP', () => {
    const headers = upstreamRequestHeaders(
      {
        authorization: 'Basic cm9vdDpwdw==',
        'proxy-authorization': 'Basic eA==',
        connection: 'keep-alive, x-secret-hop',
        'x-secret-hop': '1',
        'keep-alive': 'timeout=5',
        'transfer-encoding': 'chunked',
        upgrade: 'websocket',
        host: 'etcd.example.org:4001',
        'x-real-ip': '10.0.0.66',
        'content-type': 'application/x-www-form-urlencoded',
        'content-length': '7',
      },
      '192.0.2.10',
    );
    expect(headers).toEqual({
      'content-type': 'application/x-www-form-urlencoded',
      'content-length': '7',
      'x-forwarded-for': '192.0.2.10',
      'x-real-ip': '192.0.2.10',
    });
  });

  it('appends to an existing X-Forwarded-For, as nginx does', () => {
    expect(upstreamRequestHeaders({ 'x-forwarded-for': '198.51.100.7' }, '192.0.2.10')['x-forwarded-for']).toBe('198.51.100.7, 192.0.2.10');
  });
});

describe('clientResponseHeaders', () => {
  it("passes etcd's headers through and drops hop-by-hop ones", () => {
    expect(
      clientResponseHeaders({
        'x-etcd-index': '7',
        'x-raft-index': '8',
        'x-raft-term': '2',
        'x-etcd-cluster-id': 'cdf818194e3a8c32',
        'transfer-encoding': 'chunked',
        connection: 'close',
        'content-type': 'application/json',
      }),
    ).toEqual({ 'x-etcd-index': '7', 'x-raft-index': '8', 'x-raft-term': '2', 'x-etcd-cluster-id': 'cdf818194e3a8c32', 'content-type': 'application/json' });
  });
});
