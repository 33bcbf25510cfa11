import { describe, expect, it } from 'vitest';
import { parseBasicAuthorization } from '../../proxy/auth/basic-auth.js';

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

describe('parseBasicAuthorization', () => {
  it.each([
    ['a plain credential', `Basic ${b64('alice:secret')}`, 'alice', 'secret'],
    ['a lowercase scheme', `basic ${b64('alice:secret')}`, 'alice', 'secret'],
    ['an uppercase scheme and extra spaces', `BASIC   ${b64('alice:secret')}  `, 'alice', 'secret'],
    ['a password with colons (split at the first)', `Basic ${b64('alice:a:b::c:')}`, 'alice', 'a:b::c:'],
    ['an empty password', `Basic ${b64('alice:')}`, 'alice', ''],
    ['an empty user', `Basic ${b64(':secret')}`, '', 'secret'],
    ['UTF-8 in user and password', `Basic ${b64('jörg:pässwörd€')}`, 'jörg', 'pässwörd€'],
    ['a password with spaces', `Basic ${b64('alice: top secret ')}`, 'alice', ' top secret '],
  ])('reads %s', (_name, header, user, password) => {
    expect(parseBasicAuthorization(header)).toEqual({ kind: 'credentials', user, password });
  });

  it.each([
    ['no header', undefined],
    ['an empty header', ''],
    ['another scheme', 'Bearer abc.def.ghi'],
    ['Digest', 'Digest username="alice"'],
  ])('finds no credentials in %s', (_name, header) => {
    expect(parseBasicAuthorization(header)).toEqual({ kind: 'none' });
  });

  it.each([
    ['"Basic" alone', 'Basic'],
    ['"Basic" and spaces', 'Basic   '],
    ['scheme glued to the token', `Basic${b64('alice:secret')}`],
    ['characters outside base64', 'Basic !!!!'],
    ['base64url alphabet', `Basic ${b64('a:?>?>').replace(/\//g, '_').replace(/\+/g, '-')}`],
    ['a truncated token', `Basic ${b64('alice:secret').slice(0, -1)}`],
    ['padding in the middle', 'Basic YQ==YQ=='],
    ['no colon in the decoded text', `Basic ${b64('alicesecret')}`],
    ['bytes that are not UTF-8', `Basic ${Buffer.from([0x61, 0x3a, 0xff, 0xfe]).toString('base64')}`],
    ['two tokens', `Basic ${b64('a:b')} ${b64('c:d')}`],
  ])('calls %s malformed', (_name, header) => {
    expect(parseBasicAuthorization(header)).toEqual({ kind: 'malformed' });
  });
});
