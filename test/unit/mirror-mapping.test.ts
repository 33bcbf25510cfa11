import { describe, expect, it } from 'vitest';
import { replicationIndexKey } from '../../mirror/index-key.js';
import { covers, isHiddenBelow, normalizePrefix } from '../../mirror/etcd/keys.js';
import { destinationKey } from '../../mirror/key-mapping.js';
import { parseMirrorArgs } from '../../bin/commands/mirror.js';
import { decodeMirrorOptions, encodeMirrorOptions, redactUrl } from '../../mirror/options.js';

describe('replicationIndexKey', () => {
  it.each([
    ['/', '/__replication/__ROOT__'],
    ['/replica', '/__replication/replica'],
    ['/a/b', '/__replication/a/b'],
  ])('keeps etcdmirror\'s index key for destination prefix %s', (prefix, key) => {
    expect(replicationIndexKey(prefix)).toBe(key);
  });
});

describe('destinationKey', () => {
  it.each([
    // [srcPrefix, dstPrefix, strip, source key, destination key]
    ['/conftool', '/replica', false, '/conftool/a', '/replica/conftool/a'],
    ['/conftool', '/replica', true, '/conftool/a', '/replica/a'],
    ['/conftool', '/replica', true, '/conftool', '/replica'],
    ['/conftool', '/', true, '/conftool/a/b', '/a/b'],
    ['/conftool', '/', false, '/conftool/a', '/conftool/a'],
    ['/', '/replica', false, '/x', '/replica/x'],
    ['/', '/replica', true, '/x', '/replica/x'],
    ['/conftool', '/conftool', true, '/conftool/x', '/conftool/x'],
    // a prefix is a path, not a string: "/conf" does not cover "/conftool"
    ['/conf', '/replica', true, '/conftool/a', undefined],
    // an unanchored replace would cut "/a" out of the middle of the key
    ['/a', '/r', true, '/a/b/a/c', '/r/b/a/c'],
  ] as const)('%s → %s (strip %s): %s maps to %s', (srcPrefix, dstPrefix, strip, key, expected) => {
    expect(destinationKey(key, { srcPrefix, dstPrefix, strip })).toBe(expected);
  });

  it('treats prefixes segment by segment', () => {
    expect(covers('/conf', '/conftool')).toBe(false);
    expect(covers('/conf', '/conf/x')).toBe(true);
    expect(covers('/', '/anything')).toBe(true);
  });
});

describe('isHiddenBelow', () => {
  it.each([
    ['/conftool/_h', '/conftool', true],
    ['/conftool/a/_h/b', '/conftool', true],
    ['/conftool/a_b', '/conftool', false],
    ['/_prefix/a', '/_prefix', false],
    ['/__replication/x', '/', true],
  ] as const)('%s under %s hidden: %s', (key, prefix, hidden) => {
    expect(isHiddenBelow(key, prefix)).toBe(hidden);
  });
});

describe('parseMirrorArgs', () => {
  it('has etcdmirror\'s defaults', async () => {
    const options = await parseMirrorArgs(['http://a:2379', 'http://b:2379'], {});
    expect(options).toMatchObject({ srcPrefix: '/', dstPrefix: '/replica', port: 8000, strip: false, reload: false, onIndexCleared: 'resync' });
  });
  it('reads every flag, with = or a separate value', async () => {
    const options = await parseMirrorArgs(
      ['--reload', '--strip', '--src-prefix=/conftool/', '--dst-prefix', '/r', '--src-ignore-keys-regex', '^/conftool/tmp', '--port', '0', '--on-index-cleared', 'exit', 'https://u:p@a:4001', 'http://b:2379'],
      {},
    );
    if ('error' in options) throw new Error(options.error);
    expect(options).toMatchObject({ reload: true, strip: true, srcPrefix: '/conftool', dstPrefix: '/r', port: 0, onIndexCleared: 'exit', src: 'https://u:p@a:4001' });
    expect(options.srcIgnoreKeysRegex?.test('/conftool/tmp/x')).toBe(true);
  });
  it.each([
    [[], 'v2'],
    [['--api', 'v2'], 'v2'],
    [['--api', 'v3'], 'v3'],
    [['--src-api', 'v2', '--dst-api', 'v3'], 'v2-to-v3'],
    [['--dst-api', 'v3'], 'v2-to-v3'],
    [['--api', 'v3', '--src-api', 'v2'], 'v2-to-v3'],
  ])('reads the mode from %j as %s (a side-specific flag wins over --api)', async (flags, api) => {
    expect(await parseMirrorArgs([...flags, 'http://a:1', 'http://b:2'], {})).toMatchObject({ api });
  });
  it('takes URLs from the environment so credentials stay out of argv', async () => {
    const options = await parseMirrorArgs([], { ETCD_WARDEN_MIRROR_SRC: 'http://a:1', ETCD_WARDEN_MIRROR_DST: 'http://b:2' });
    expect(options).toMatchObject({ src: 'http://a:1', dst: 'http://b:2' });
  });
  it.each([
    [['--port', 'x', 'http://a:1', 'http://b:2'], '--port'],
    [['--src-prefix', 'rel', 'http://a:1', 'http://b:2'], '--src-prefix'],
    [['--on-index-cleared', 'maybe', 'http://a:1', 'http://b:2'], '--on-index-cleared'],
    [['--src-ignore-keys-regex', '(', 'http://a:1', 'http://b:2'], '--src-ignore-keys-regex'],
    [['--bogus', 'http://a:1', 'http://b:2'], '--bogus'],
    [['--api', 'v4', 'http://a:1', 'http://b:2'], '--api must be v2 or v3'],
    [['--src-api', 'v3', '--dst-api', 'v2', 'http://a:1', 'http://b:2'], '--src-api v3 --dst-api v2: a v3 source into a v2 destination'],
    [['--api', 'v3', '--dst-api', 'v2', 'http://a:1', 'http://b:2'], '--api v3 --dst-api v2'],
    [['--src-ca-file', '/nonexistent/ca.pem', 'http://a:1', 'http://b:2'], '--src-ca-file: cannot read /nonexistent/ca.pem'],
    [['--cert-file', '/c.pem', 'http://a:1', 'http://b:2'], '--cert-file needs its client key too'],
    [['--dst-key-file', '/k.pem', 'http://a:1', 'http://b:2'], '--dst-key-file needs its client certificate too'],
    [['http://a:1'], 'DST_URL'],
  ])('names the flag in usage errors: %j', async (argv, flag) => {
    const result = await parseMirrorArgs(argv, {});
    expect('error' in result && result.error).toContain(flag);
  });
  it('normalizes prefixes and refuses dot segments', () => {
    expect(normalizePrefix('/a//b/')).toBe('/a/b');
    expect(normalizePrefix('/a/../b')).toBeUndefined();
  });
  it('never prints passwords', () => {
    expect(redactUrl('https://user:secret@host:4001')).not.toContain('secret');
  });
});

describe('the bundled mirror\'s options, handed to its child as JSON', () => {
  it('arrive as they left, regex included', async () => {
    const options = await parseMirrorArgs(['--strip', '--src-prefix', '/conftool', '--src-ignore-keys-regex', '^/conftool/tmp(/|$)', 'https://u:p@a:4001', 'http://b:2379'], {});
    if ('error' in options) throw new Error(options.error);
    const { tlsPaths, ...decoded } = decodeMirrorOptions(encodeMirrorOptions(options));
    const { tls, ...sent } = options;
    expect({ ...decoded, srcIgnoreKeysRegex: decoded.srcIgnoreKeysRegex?.source }).toEqual({ ...sent, srcIgnoreKeysRegex: sent.srcIgnoreKeysRegex?.source });
    expect(decoded.srcIgnoreKeysRegex?.test('/conftool/tmp/x')).toBe(true);
    expect([tls, tlsPaths]).toEqual([{}, {}]);
  });
  it('carry TLS files as their paths and settings (a CA bundle may not fit in an environment variable), for the child to read', async () => {
    const options = await parseMirrorArgs(['--api', 'v3', 'https://a:4001', 'http://b:2379'], {});
    if ('error' in options) throw new Error(options.error);
    const file = (path: string, setting: string) => ({ path, pem: Buffer.from('-----BEGIN CERTIFICATE-----'), setting });
    const withTls = { ...options, tls: { src: { ca: file('/etc/ca.pem', 'mirror.srcCaFile'), cert: file('/etc/c.pem', 'mirror.srcCertFile'), key: file('/etc/k.pem', 'mirror.srcKeyFile') } } };
    const encoded = encodeMirrorOptions(withTls);
    expect(encoded).not.toContain('BEGIN CERTIFICATE');
    expect(decodeMirrorOptions(encoded)).toMatchObject({
      api: 'v3',
      tlsPaths: { src: { ca: { path: '/etc/ca.pem', setting: 'mirror.srcCaFile' }, cert: { path: '/etc/c.pem', setting: 'mirror.srcCertFile' }, key: { path: '/etc/k.pem', setting: 'mirror.srcKeyFile' } } },
    });
  });
  it('refuse a field of the wrong type, naming it', () => {
    expect(() => decodeMirrorOptions(JSON.stringify({ src: 'http://a:1', dst: 2 }))).toThrow(/dst/);
  });
});
