import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../config/schema.js';

function errorsOf(raw: unknown): readonly string[] {
  const result = validateConfig(raw);
  return result.ok ? [] : result.errors;
}

describe('validateConfig', () => {
  it('fills the defaults of the SPEC for an empty file', () => {
    const result = validateConfig({});
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.value.listen).toEqual({ host: '0.0.0.0', port: 4001 });
    expect(result.value.upstream.href).toBe('http://127.0.0.1:2379/');
    expect(result.value.readOnly).toBe(false);
    expect(result.value.admins).toEqual(['root']);
    expect(result.value.metrics).toEqual({ host: '127.0.0.1', port: 9181 });
    expect(result.value.maxBodyBytes).toBe(20 * 1024 * 1024);
    // etcd's own default token lifetime (--auth-token-ttl 300 s).
    expect(result.value.v3).toEqual({ tokenTtlMs: 300_000 });
  });

  it('accepts the example of the SPEC', () => {
    const result = validateConfig({
      listen: '0.0.0.0:4001',
      tls: { cert: '/etc/etcd-warden/tls.crt', key: '/etc/etcd-warden/tls.key' },
      upstream: 'http://127.0.0.1:2379',
      readOnly: false,
      htpasswd: '/etc/etcd-warden/htpasswd',
      acls: { '/': ['root'], '/conftool': ['root', 'conftool'], '/eventlogging': [] },
      admins: ['root'],
      metrics: '127.0.0.1:9181',
      mirror: { src: 'https://u:p@etcd.eqiad:4001', srcPrefix: '/conftool', port: 8000 },
    });
    expect(result.ok).toBe(true);
    if (result.ok) expect(result.value.mirror).toMatchObject({ api: 'v2', srcPrefix: '/conftool', dstPrefix: '/conftool', onIndexCleared: 'resync' });
  });

  it.each([
    [{ api: 'v3' }, 'v3'],
    [{ srcApi: 'v2', dstApi: 'v3' }, 'v2-to-v3'],
    [{ dstApi: 'v3' }, 'v2-to-v3'],
    [{ api: 'v2' }, 'v2'],
    [{}, 'v2'],
  ] as const)('reads the bundled mirror\'s APIs %j as %s', (apis, mode) => {
    const result = validateConfig({ mirror: { src: 'https://x:4001', srcCaFile: '/ca.pem', ...apis } });
    expect(result.ok && result.value.mirror).toMatchObject({ api: mode, srcCaFile: '/ca.pem' });
  });

  const table: Array<[string, unknown, string]> = [
    ['a typo in a field name', { readonly: true }, 'readonly: unknown field'],
    ['a non-boolean read-only switch', { readOnly: 'yes' }, 'readOnly: must be true or false'],
    ['a bad listen address', { listen: '4001' }, 'listen: must be "host:port"'],
    ['an upstream with a path', { upstream: 'http://127.0.0.1:2379/v2' }, 'upstream: must be an origin only'],
    ['an upstream of another scheme', { upstream: 'ftp://x' }, 'upstream: must be an http:// or https:// URL'],
    ['an ACL prefix with a trailing slash', { acls: { '/conftool/': [] }, htpasswd: 'h' }, 'acls["/conftool/"]: the prefix must be a clean key path'],
    ['an ACL prefix with ..', { acls: { '/a/../b': [] } }, 'acls["/a/../b"]'],
    ['an ACL user that is not a string', { acls: { '/a': [1] }, htpasswd: 'h' }, 'acls["/a"][0]: must be a user name'],
    ['an ACL that is not a list', { acls: { '/a': 'root' } }, 'acls["/a"]: must be a list of user names'],
    ['ACL users without an htpasswd file', { acls: { '/a': ['root'] } }, 'htpasswd: is required'],
    ['a TLS section without a key', { tls: { cert: '/c' } }, 'tls.key: must be a non-empty string'],
    ['an unknown timeout', { timeouts: { watchMs: 5 } }, 'timeouts.watchMs: unknown field'],
    ['a zero timeout', { timeouts: { upstreamMs: 0 } }, 'timeouts.upstreamMs: must be a positive integer'],
    ['a v3 token lifetime in seconds as text', { v3: { tokenTtlMs: '300s' } }, 'v3.tokenTtlMs: must be a positive integer'],
    ['an unknown v3 setting', { v3: { tokenTtl: 300 } }, 'v3.tokenTtl: unknown field'],
    ['a mirror without a source', { mirror: {} }, 'mirror.src: must be a non-empty string'],
    ['a mirror regex that does not compile', { mirror: { src: 'http://x:1', srcIgnoreKeysRegex: '(' } }, 'mirror.srcIgnoreKeysRegex: is not a valid regular expression'],
    ['a mirror API that is not v2 or v3', { mirror: { src: 'http://x:1', api: 'v4' } }, 'mirror.api: must be "v2" or "v3", got string "v4"'],
    ['a v3 mirror source into the v2 upstream', { mirror: { src: 'http://x:1', srcApi: 'v3', dstApi: 'v2' } }, 'mirror.srcApi: a v3 source into a v2 destination is not a mode'],
    ['api v3 with a v2 destination', { mirror: { src: 'http://x:1', api: 'v3', dstApi: 'v2' } }, 'mirror.dstApi: a v3 source into a v2 destination is not a mode'],
    ['a mirror client certificate without its key', { mirror: { src: 'https://x:1', srcCertFile: '/c.pem' } }, 'mirror.srcCertFile: needs mirror.srcCertFile and mirror.srcKeyFile together'],
    ['a mirror CA file that is not a string', { mirror: { src: 'https://x:1', srcCaFile: 5 } }, 'mirror.srcCaFile: must be a non-empty string'],
    ['a bad log level', { logLevel: 'verbose' }, 'logLevel: must be one of'],
    ['a hidden heartbeat key, which the mirror would not carry', { heartbeat: { key: '/conftool/_heartbeat' } }, 'heartbeat.key: must not be a hidden key'],
    ['a heartbeat without a key', { heartbeat: { intervalMs: 1000 } }, 'heartbeat.key: must be a non-empty string'],
  ];
  it.each(table)('names the field for %s', (_what, raw, message) => {
    expect(errorsOf(raw).join('\n')).toContain(message);
  });

  it('takes `advertise` as the origin clients use, and nothing more', () => {
    const result = validateConfig({ advertise: 'https://conf1001.example.org:4001' });
    expect(result.ok && result.value.advertise?.origin).toBe('https://conf1001.example.org:4001');
    expect(errorsOf({ advertise: 'https://conf1001.example.org:4001/v2' })).toEqual([expect.stringMatching(/^advertise: must be the URL clients use for this proxy, an origin only/)]);
    expect(errorsOf({ advertise: 'conf1001:4001' })).toEqual([expect.stringMatching(/^advertise: must be an http:\/\/ or https:\/\/ URL/)]);
  });

  it('reports every problem at once', () => {
    expect(errorsOf({ readOnly: 'no', listen: 'x', acls: { bad: [] } })).toHaveLength(3);
  });
});
