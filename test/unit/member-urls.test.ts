// Which advertised client URLs go around the proxy: a pure table.
import { describe, expect, it } from 'vitest';
import { memberUrlBypasses, parseMemberList, parseSelfId, type AdvertisedMember, type MemberUrlRules } from '../../proxy/member-urls.js';

const upstream = new URL('http://127.0.0.1:2379');
const advertise = new URL('https://conf1001.example.org:4001');
const production: MemberUrlRules = { localMemberId: 'a1', advertise, upstream };
const member = (id: string, name: string, ...clientURLs: string[]): AdvertisedMember => ({ id, name, clientURLs });

describe('memberUrlBypasses', () => {
  const table: Array<[string, AdvertisedMember[], MemberUrlRules, Array<[string, RegExp]>]> = [
    ['every member advertises its proxy', [member('a1', 'conf1001', 'https://conf1001.example.org:4001'), member('b2', 'conf1002', 'https://conf1002.example.org:4001')], production, []],
    ['the local member advertises etcd itself (the demo before issue 8)', [member('a1', 'conf1001', 'http://127.0.0.1:2379')], production, [['http://127.0.0.1:2379', /etcd's own client listener/]]],
    ['the local member advertises a second URL next to the proxy', [member('a1', 'conf1001', 'https://conf1001.example.org:4001', 'http://conf1001.example.org:2379')], production, [['http://conf1001.example.org:2379', /not this proxy's advertise URL https:\/\/conf1001\.example\.org:4001/]]],
    ['the local member advertises another host', [member('a1', 'conf1001', 'https://conf1009.example.org:4001')], production, [['https://conf1009.example.org:4001', /not this proxy's advertise URL/]]],
    ['a remote member advertises its etcd port', [member('a1', 'conf1001', 'https://conf1001.example.org:4001'), member('b2', 'conf1002', 'http://conf1002.example.org:2379')], production, [['http://conf1002.example.org:2379', /scheme and port \(https:\/\/…:4001\)/]]],
    ['a remote member advertises loopback', [member('b2', 'conf1002', 'https://127.0.0.1:4001')], production, [['https://127.0.0.1:4001', /loopback address/]]],
    ['a member not started yet advertises nothing', [member('c3', '', )], production, []],
    ['without advertise, etcd advertising itself is still caught', [member('a1', 'conf1001', 'http://127.0.0.1:2379')], { ...production, advertise: undefined }, [['http://127.0.0.1:2379', /etcd's own client listener/]]],
    ['without advertise, anything else cannot be judged', [member('a1', 'conf1001', 'http://conf1001.example.org:2379')], { ...production, advertise: undefined }, []],
    ['a loopback test setup: etcd advertises the proxy on loopback', [member('a1', 't', 'http://127.0.0.1:41001')], { localMemberId: 'a1', advertise: new URL('http://127.0.0.1:41001'), upstream: new URL('http://127.0.0.1:41002') }, []],
    ['the local member is unknown: judged as a remote one', [member('a1', 'conf1001', 'http://127.0.0.1:2379')], { ...production, localMemberId: undefined }, [['http://127.0.0.1:2379', /etcd's own client listener/]]],
    ['garbage', [member('a1', 'conf1001', 'not a url')], production, [['not a url', /not a URL/]]],
  ];
  it.each(table)('%s', (_name, members, rules, expected) => {
    const found = memberUrlBypasses(members, rules);
    expect(found.map((bypass) => bypass.url)).toEqual(expected.map(([url]) => url));
    expected.forEach(([, problem], i) => expect(found[i]?.problem).toMatch(problem));
  });

  it('names the etcd flags to change, with this proxy\'s URL, for the local member', () => {
    const [found] = memberUrlBypasses([member('a1', 'conf1001', 'http://127.0.0.1:2379')], production);
    expect(found?.member).toBe('conf1001');
    expect(found?.fix).toBe('start etcd with --advertise-client-urls https://conf1001.example.org:4001 and --listen-client-urls http://127.0.0.1:2379 (loopback only), then restart etcd');
  });

  it('asks for `advertise` when it is not set', () => {
    const [found] = memberUrlBypasses([member('a1', 'conf1001', 'http://127.0.0.1:2379')], { ...production, advertise: undefined });
    expect(found?.fix).toMatch(/^set `advertise` in this proxy's config/);
  });
});

describe('parsing etcd answers', () => {
  it('reads /v2/members as etcd 3.4 writes it', () => {
    const body = { members: [{ id: '8e9e05c52164694d', name: 'default', peerURLs: ['http://localhost:2380'], clientURLs: ['http://localhost:2379'] }, { id: 'x', peerURLs: [], clientURLs: [] }] };
    expect(parseMemberList(body)).toEqual([member('8e9e05c52164694d', 'default', 'http://localhost:2379'), member('x', '')]);
  });

  it('refuses what is not a member list', () => {
    expect(parseMemberList({ errorCode: 300 })).toBeUndefined();
    expect(parseMemberList({ members: [{ name: 'no id' }] })).toBeUndefined();
    expect(parseMemberList(null)).toBeUndefined();
  });

  it('reads the local member id from /v2/stats/self', () => {
    expect(parseSelfId({ name: 'default', id: '8e9e05c52164694d', state: 'StateLeader' })).toBe('8e9e05c52164694d');
    expect(parseSelfId({})).toBeUndefined();
  });
});
