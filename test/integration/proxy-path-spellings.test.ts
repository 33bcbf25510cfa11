// Differential test: for each spelling of a path, what etcd itself does with
// it (measured here, on the real etcd) and what the proxy lets through. The
// property: a user limited to /public never changes a key outside /public,
// however the path is spelled.
import { describe, expect, it } from 'vitest';
import { etcdKeys, form, rawRequest } from '../fixtures/http.js';
import { publisherAuthorization, usePublisherProxy } from '../fixtures/publisher-proxy.js';
import { seededRandom } from './proxy-fuzz-generator.js';

const warden = usePublisherProxy('warden-test');
const publisher = publisherAuthorization;
let counter = 0;

interface Outcome {
  readonly status: number;
  /** Keys that hold this request's unique value afterwards. */
  readonly changed: readonly string[];
}

/** Sends one PUT and reports which keys it changed, then removes them. */
async function attempt(baseUrl: string, target: string, authorization?: string): Promise<Outcome> {
  const marker = `marker-${++counter}`;
  let status: number;
  try {
    const response = await rawRequest(baseUrl, target, {
      method: 'PUT',
      body: form({ value: marker }),
      headers: authorization === undefined ? {} : { authorization },
    });
    status = response.status;
  } catch {
    status = 0; // the server refused to parse the request at all
  }
  const changed = [...(await etcdKeys(warden.etcd.clientUrl))].filter(([, value]) => value === marker).map(([key]) => key);
  for (const key of changed) await rawRequest(warden.etcd.clientUrl, `/v2/keys${key.split('/').map(encodeURIComponent).join('/')}`, { method: 'DELETE' });
  return { status, changed };
}

const insidePublic = (key: string): boolean => key === '/public' || key.startsWith('/public/');

const spellings: readonly string[] = [
  '/v2/keys/public/plain',
  '/v2/keys/public/../secret/s',
  '/v2/keys/public/%2e%2e/secret/s',
  '/v2/keys/public/%2E%2E/secret/s',
  '/v2/keys/public/%2e%2E/secret/s',
  '/v2/keys/public/..%2fsecret/s',
  '/v2/keys/public/..%2Fsecret/s',
  '/v2/keys/public%2F..%2Fsecret/s',
  '/v2/keys/public/.%2e/secret/s',
  '/v2/keys/public/..',
  '/v2/keys/public/%2e%2e',
  '/v2/keys/public//z',
  '//v2/keys/public/z',
  '/v2/keys/public/./z',
  '/v2/keys/public/%2e/z',
  '/v2/keys/public/z/.',
  '/v2/keys/public\\locked\\k',
  '/v2/keys/public%5clocked',
  '/v2/keys/public/%5c..%5csecret',
  '/v2/keys/public/%73ecret/x',
  '/v2/keys/%70ublic/x',
  '/v2/keys/%70UBLIC/x',
  '/v2/keys/secret%2Fx',
  '/v2/keys/public%2fy',
  '/v2/keys/public%252Fx',
  '/v2/keys/public%252F..%252Fsecret',
  '/v2/keys/public/t/',
  '/v2/keys/public;x/y',
  '/v2/keys/public/x;/../../secret',
  '/v2/keys/public/x?key=/secret/s',
  '/v2/keys/public/a%3F/../../secret',
  '/v2/keys/public/a%23b',
  '/v2/keys/public/%C0%AE%C0%AE/secret',
  '/v2/keys/public/%zz',
  '/v2/keys/public/x%00',
  '/v2/keys/publicx',
  '/v2/keys/public.',
  '/v2/keys/public/...',
  '/v2/keys/../v2/keys/secret/x',
  '/v2/keys%2Fsecret/x',
  '/v2/keys%2fpublic/x',
  '/v2/%6beys/secret/x',
  '/v2/keys/' + 'public/'.repeat(200) + 'deep',
  'http://127.0.0.1/v2/keys/secret/abs',
];

describe('path spellings: what etcd acts on versus what the proxy allows', () => {
  it.each(spellings)('%s', async (target) => {
    const direct = await attempt(warden.etcd.clientUrl, target);
    const proxied = await attempt(warden.proxy.url, target, publisher);
    // Never a key outside the user's prefix, whatever etcd makes of the spelling.
    expect(proxied.changed.filter((key) => !insidePublic(key))).toEqual([]);
    // Where etcd alone would write inside /public, the proxy does the same write.
    if (direct.changed.length > 0 && direct.changed.every(insidePublic) && proxied.status === 201) {
      expect(proxied.changed).toEqual(direct.changed);
    }
    // Where etcd would act outside /public, the proxy did not let it through.
    if (direct.changed.some((key) => !insidePublic(key))) expect(proxied.status).not.toBe(201);
  });
});

const pieces = ['public', 'secret', 'x', '.', '..', '%2e', '%2E%2e', '%2e.', '', '%2f', '%2F', '%5c', '\\', '%70ublic', ';', '%3F', '%23', '%252F', 'public%2F..'];

describe('generated spellings (seed 20261123)', () => {
  const next = seededRandom(20261123);
  const targets = Array.from({ length: 150 }, () => {
    const segments = Array.from({ length: 1 + Math.floor(next() * 5) }, () => pieces[Math.floor(next() * pieces.length)] ?? 'x');
    return '/v2/keys/' + segments.join('/');
  });
  it('never lets the publisher change a key outside /public', async () => {
    for (const target of targets) {
      const proxied = await attempt(warden.proxy.url, target, publisher);
      expect(proxied.changed.filter((key) => !insidePublic(key)), target).toEqual([]);
    }
  });
});
