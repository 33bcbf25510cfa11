// Seeded generator of hostile request targets for the differential fuzz
// test: every spelling trick from research/etcd-v2-notes.md §1.3, mixed at
// random. A failure names its seed and index, so it reproduces exactly.

export interface FuzzCase {
  readonly method: string;
  readonly target: string;
}

/** mulberry32: small, fast, and the same sequence on every machine. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Each group is one family of tricks; a segment is drawn from a random group,
// so rare families (overlong UTF-8) show up as often as common ones.
const names: readonly string[] = ['public', 'public', 'public', 'secret', 'x', 'y', 'locked', 'publicx', 'pub', 'v2', 'keys', '_hidden', '%5Fh'];
const segmentGroups: readonly (readonly string[])[] = [
  names,
  ['.', '..', '%2e', '%2E', '%2e%2e', '%2E%2E', '%2e%2E', '.%2e', '%2e.', '...', '%252e%252e', '.%2E'],
  ['', '', '%2f', '%2F', 'public%2F..', '..%2f', '..%2Fsecret', '%2F%2F', '%252F', 'public%2Fsecret', '%2fsecret'],
  ['%5c', '%5C', '\\', '..\\', '%5c..%5c', '\\..\\secret', 'public\\secret'],
  ['%C0%AE', '%c0%ae%c0%ae', '%C0%AF', '%e0%80%ae', '%E0%80%AF', '%F0%80%80%AE', '%C1%9C', '%ff', '%C3%A9', '%E2%80%AE', '%ef%bc%8e'],
  ['%zz', '%2', '%', '%%32%65', '%u002e', '%2g', '%%', '%0', '%00', '%0a', '%0D%0A', '%7f', '%09'],
  [';', ';x', 'x;y', ';/..', '%3B', '%3F', '%23', '?', '#', '?key=/secret/s', '#frag', '&', '=', '+', '~', '*', '@', ':', 'secret:x', '$'],
  ['%70ublic', '%73ecret', 'p%75blic', '%50UBLIC', 'PUBLIC', 'Public', 'public%00', 'public%20', '%20public', 'public.'],
];

const prefixes: readonly string[] = [
  '/v2/keys/', '/v2/keys/', '/v2/keys/', '/v2/keys/', '/v2/keys/', '/v2/keys/', '/v2/keys/public/', '/v2/keys/public/',
  '/v2/keys', '//v2/keys/', '/v2//keys/', '/v2/keys%2F', '/v2/keys%2f', '/v2/%6beys/', '/V2/keys/', '/v2/keys/../keys/',
  '/v2/./keys/', '/./v2/keys/', '/v2/keys/public/../', '/v2/keys/public/%2e%2e/', '/%76%32/keys/', '/v2/keys\\', '/v2/keys%5c',
];

const origins: readonly string[] = [
  '', '', '', '', '', '', '', '', '', '', '', '', '', '', '', '', '', '', '', '', '', '', '', '',
  'http://127.0.0.1', 'http://evil.example:4001', 'HTTP://127.0.0.1', 'https://127.0.0.1', 'http://127.0.0.1:2379', '//127.0.0.1', 'http:',
];

const suffixes: readonly string[] = [
  '', '', '', '', '/', '//', '/.', '/..', '?x=1', '?value=fromquery', '?recursive=true', '?dir=true', '#f', '?a#b', '?;', '?key=/secret/k', '%2f', '%2F..',
];

const methods: readonly string[] = [
  'PUT', 'PUT', 'PUT', 'PUT', 'PUT', 'PUT', 'PUT', 'PUT', 'POST', 'POST', 'DELETE', 'DELETE',
  'put', 'Put', 'pUT', 'post', 'delete', 'PATCH', 'PROPFIND', 'MKCOL', 'PROPPATCH', 'COPY', 'MOVE', 'CONNECT', 'TRACE', 'SEARCH',
];

export function generateCases(seed: number, count: number): FuzzCase[] {
  const next = seededRandom(seed);
  const pick = <T>(list: readonly T[]): T => {
    const item = list[Math.floor(next() * list.length)];
    if (item === undefined) throw new Error('empty list in the fuzz generator');
    return item;
  };
  const cases: FuzzCase[] = [];
  for (let i = 0; i < count; i++) {
    const segments: string[] = [];
    const length = 1 + Math.floor(next() * 6);
    // How hostile this case is: a few are mostly plain names (so the allow
    // path and the key comparison get exercised), most are dense with tricks.
    const density = pick([0.05, 0.15, 0.3, 0.5, 0.5]);
    for (let s = 0; s < length; s++) {
      if (next() < 0.02) segments.push('a'.repeat(100 + Math.floor(next() * 6000)));
      else segments.push(pick(next() < density ? pick(segmentGroups) : names));
    }
    let path = pick(prefixes) + segments.join('/') + pick(suffixes);
    // Very long paths: past the 16 KiB header limit, and just under it.
    if (next() < 0.01) path = '/v2/keys/' + 'public/'.repeat(1000 + Math.floor(next() * 2500)) + 'deep';
    cases.push({ method: pick(methods), target: pick(origins) + path });
  }
  return cases;
}
