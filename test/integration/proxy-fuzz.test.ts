// Differential fuzz: thousands of seeded hostile request targets, each sent
// as raw bytes both through the proxy (as `publisher`, whose only right is
// /public) and straight to a second etcd. Properties, checked in etcd:
// - nothing outside /public changes in the etcd behind the proxy: every key
//   and directory outside it keeps the modifiedIndex it had, and none appears;
// - a write the proxy let through acted on a key inside /public, and on the
//   same key etcd acts on for that exact request line;
// - the proxy never executes what etcd itself would have redirected (301) or
//   refused as malformed (400, 405).
// The interesting cases are kept in test/fixtures/fuzz-corpus.json and replayed
// as regression tests; FUZZ_WRITE_CORPUS=1 rewrites that file from a run.
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEtcd, type EtcdProcess } from '../fixtures/etcd.js';
import { form, rawRequest } from '../fixtures/http.js';
import { basicAuth, htpasswdLine, startProxy, type ProxyProcess } from '../fixtures/proxy.js';
import { generateCases, type FuzzCase } from './proxy-fuzz-generator.js';
import { requestBytes, sendRaw } from './proxy-hardening-wire.js';

const seed = Number(process.env.FUZZ_SEED ?? 20_261_124);
const generatedCount = Number(process.env.FUZZ_COUNT ?? 10_000);
const corpusFile = 'test/fixtures/fuzz-corpus.json';
const publisher = basicAuth('publisher', 'pub-secret');

let guarded: EtcdProcess;
let bare: EtcdProcess;
let proxy: ProxyProcess;
/** Every node outside /public in the guarded etcd, with its modifiedIndex, before any fuzzing. */
let outsideBefore: Map<string, number>;

const insidePublic = (key: string): boolean => key === '/public' || key.startsWith('/public/');

beforeAll(async () => {
  [guarded, bare] = await Promise.all([startEtcd('fuzz-guarded'), startEtcd('fuzz-bare')]);
  proxy = await startProxy({
    upstream: guarded.clientUrl,
    htpasswd: [htpasswdLine('root', 'root-secret', 'sha1'), htpasswdLine('publisher', 'pub-secret', 'sha1')],
    config: { acls: { '/': ['root'], '/public': ['root', 'publisher'], '/publicx': ['root'] } },
  });
  // Sentinels: neighbours of /public a spelling might reach (siblings sharing
  // its prefix, a literal "v2/keys" path, a dir) and something to delete.
  for (const [key, extra] of [
    ['/secret/s', {}], ['/secret/dir/k', {}], ['/publicx', {}], ['/pub', {}], ['/public.', {}], ['/x', {}],
    ['/v2/keys/x', {}], ['/locked/k', {}], ['/PUBLIC', {}], ['/emptydir', { dir: 'true' }], ['/public/seed', {}],
  ] as const) {
    const response = await rawRequest(guarded.clientUrl, `/v2/keys${key}`, { method: 'PUT', body: form({ value: 'sentinel', ...extra }) });
    if (response.status !== 201) throw new Error(`could not seed ${key}: ${response.status} ${response.body}`);
  }
  outsideBefore = await nodesOutsidePublic();
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([guarded?.stop(), bare?.stop()]);
});

interface EtcdNode {
  key?: string;
  value?: string;
  dir?: boolean;
  modifiedIndex?: number;
  nodes?: EtcdNode[];
}

async function listing(etcdUrl: string): Promise<EtcdNode[]> {
  const response = await rawRequest(etcdUrl, '/v2/keys/?recursive=true', { timeoutMs: 30_000 });
  const all: EtcdNode[] = [];
  const walk = (node: EtcdNode): void => {
    if (node.key !== undefined) all.push(node);
    node.nodes?.forEach(walk);
  };
  walk((JSON.parse(response.body) as { node: EtcdNode }).node);
  return all;
}

async function nodesOutsidePublic(): Promise<Map<string, number>> {
  const nodes = await listing(guarded.clientUrl);
  return new Map(nodes.filter((n) => n.key !== undefined && !insidePublic(n.key)).map((n) => [n.key ?? '', n.modifiedIndex ?? -1]));
}

interface Outcome {
  /** 0: no HTTP response at all (the server closed the connection). */
  readonly status: number;
  /** node.key of a 2xx answer from etcd. */
  readonly key?: string;
  /** The `cause` of an etcd error: the key it refused to act on, where it names one. */
  readonly cause?: string;
  /** The answer came from etcd (X-Etcd-Index), not from the proxy itself. */
  readonly forwarded: boolean;
}

interface CaseResult {
  readonly fuzzCase: FuzzCase;
  readonly marker: string;
  readonly proxied: Outcome;
  readonly direct: Outcome;
}

async function send(url: string, fuzzCase: FuzzCase, marker: string, authorization?: string): Promise<Outcome> {
  const headers: Record<string, string> = { Connection: 'close', ...(authorization === undefined ? {} : { Authorization: authorization }) };
  const bytes = requestBytes(fuzzCase.method, fuzzCase.target, headers, form({ value: marker }));
  const exchange = await sendRaw(url, bytes, { timeoutMs: 15_000, expectResponses: 1 });
  const first = exchange.responses[0];
  if (first === undefined) return { status: 0, forwarded: false };
  let key: string | undefined;
  let cause: string | undefined;
  try {
    const parsed = JSON.parse(first.body) as { node?: { key?: string }; cause?: unknown };
    if (first.status >= 200 && first.status < 300) key = parsed.node?.key;
    else if (typeof parsed.cause === 'string') cause = parsed.cause;
  } catch {
    // not etcd JSON: a 2xx like that is reported by the property check below
  }
  return { status: first.status, forwarded: first.headers['x-etcd-index'] !== undefined, ...(key === undefined ? {} : { key }), ...(cause === undefined ? {} : { cause }) };
}

let markerCount = 0;

async function runCases(cases: readonly FuzzCase[], concurrency = 12): Promise<CaseResult[]> {
  const results: CaseResult[] = [];
  let nextIndex = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const fuzzCase = cases[nextIndex++];
      if (fuzzCase === undefined) return;
      const marker = `fz${++markerCount}`;
      const [proxied, direct] = await Promise.all([send(proxy.url, fuzzCase, marker, publisher), send(bare.clientUrl, fuzzCase, marker)]);
      results.push({ fuzzCase, marker, proxied, direct });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return results;
}

/** Every way a result breaks the properties; empty when it holds. */
function violations(result: CaseResult): string[] {
  const { proxied, direct } = result;
  const found: string[] = [];
  const ok = (status: number): boolean => status >= 200 && status < 300;
  if (ok(proxied.status)) {
    if (proxied.key === undefined) found.push(`proxy answered ${proxied.status} without an etcd node`);
    else if (!insidePublic(proxied.key)) found.push(`proxy let publisher act on ${proxied.key}`);
    // 301, 400 and 405 from Go's mux or form parser (no X-Etcd-Index): etcd would not run the request at all.
    // A 400 from the keys handler (Not a directory) depends on what the key holds, not on the spelling.
    if (direct.status === 0 || direct.status === 301 || ((direct.status === 400 || direct.status === 405) && !direct.forwarded)) {
      found.push(`proxy executed a request etcd answers ${direct.status}`);
    }
    if (ok(direct.status) && direct.key !== proxied.key && result.fuzzCase.method !== 'POST') found.push(`proxy acted on ${proxied.key}, etcd acts on ${direct.key}`);
    if (result.fuzzCase.method === 'POST' && ok(direct.status) && direct.key !== undefined && proxied.key !== undefined && parentOf(direct.key) !== parentOf(proxied.key)) {
      found.push(`proxy created under ${parentOf(proxied.key)}, etcd creates under ${parentOf(direct.key)}`);
    }
  }
  return found;
}

const encodeKey = (key: string): string => key.split('/').map(encodeURIComponent).join('/');
const short = (target: string): string => (target.length > 160 ? `${target.slice(0, 160)}…(${target.length} chars)` : target);
const parentOf = (key: string): string => key.slice(0, key.lastIndexOf('/'));

/** What changed outside /public since the start, each change named with the request that made it where a marker says. */
async function changesOutsidePublic(results: readonly CaseResult[]): Promise<string[]> {
  const byMarker = new Map(results.map((r) => [r.marker, r]));
  const nodes = await listing(guarded.clientUrl);
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const node of nodes) {
    const key = node.key ?? '';
    if (insidePublic(key)) continue;
    seen.add(key);
    const before = outsideBefore.get(key);
    if (before === node.modifiedIndex) continue;
    const culprit = node.value === undefined ? undefined : byMarker.get(node.value);
    problems.push(`${key} ${before === undefined ? 'appeared' : 'was modified'}${culprit === undefined ? '' : ` by ${culprit.fuzzCase.method} ${short(culprit.fuzzCase.target)}`}`);
  }
  for (const key of outsideBefore.keys()) if (!seen.has(key)) problems.push(`${key} was deleted`);
  return problems;
}

interface CorpusEntry {
  readonly method: string;
  readonly target: string;
  /** What the proxy answered itself when the corpus was recorded, or "etcd" when it forwarded (etcd's status depends on state). */
  readonly proxy: number | 'etcd';
  /** What etcd 3.4 answered the same bytes, and the key it acted on (absent for hand-written entries). */
  readonly etcd?: number;
  readonly etcdKey?: string;
  readonly why: string;
}

function interesting(result: CaseResult): string | undefined {
  const { proxied, direct } = result;
  if (direct.key !== undefined && !insidePublic(direct.key) && direct.status < 300) return 'etcd alone would act outside /public';
  if (direct.status === 301 && proxied.status !== 301) return 'etcd redirects, the proxy answers otherwise';
  if (direct.status < 300 && direct.key !== undefined && insidePublic(direct.key) && proxied.status >= 300) return 'etcd acts inside /public, the proxy refuses';
  if (proxied.status === 0 || direct.status === 0) return 'one side closed without an answer';
  return undefined;
}

describe('differential fuzz (nothing outside /public changes)', () => {
  const corpus = JSON.parse(readFileSync(corpusFile, 'utf8')) as CorpusEntry[];

  it(`replays the ${corpus.length} recorded corpus cases with the recorded answers`, async () => {
    // A recorded DELETE only attacks something if its key exists: create it on
    // both sides (outside /public in the guarded etcd, so deleting it would show).
    for (const entry of corpus) {
      if (entry.method !== 'DELETE' || entry.etcdKey === undefined) continue;
      const body = form(entry.target.includes('dir=true') ? { dir: 'true' } : { value: 'target' });
      for (const url of [guarded.clientUrl, bare.clientUrl]) await rawRequest(url, `/v2/keys${encodeKey(entry.etcdKey)}`, { method: 'PUT', body });
    }
    outsideBefore = await nodesOutsidePublic();
    const results = await runCases(corpus.map(({ method, target }) => ({ method, target })));
    const problems = results.flatMap((r) => violations(r).map((v) => `${r.fuzzCase.method} ${short(r.fuzzCase.target)}: ${v}`));
    for (const result of results) {
      const entry = corpus.find((e) => e.method === result.fuzzCase.method && e.target === result.fuzzCase.target);
      const answered = result.proxied.forwarded ? 'etcd' : result.proxied.status;
      if (entry !== undefined && entry.proxy !== answered) {
        problems.push(`${entry.method} ${short(entry.target)}: proxy answered ${answered}, recorded ${entry.proxy}`);
      }
      // The corpus must keep attacking: etcd alone still acts on (or, for a
      // state-dependent refusal such as "Not a directory", names) a key outside /public.
      const etcdTarget = result.direct.key ?? result.direct.cause;
      if (entry?.why === 'etcd alone would act outside /public' && (etcdTarget === undefined || !etcdTarget.startsWith('/') || insidePublic(etcdTarget))) {
        problems.push(`${entry.method} ${short(entry.target)}: etcd no longer acts outside /public (${result.direct.status} ${etcdTarget ?? ''})`);
      }
    }
    problems.push(...(await changesOutsidePublic(results)));
    expect(problems).toEqual([]);
    expect(corpus.filter((e) => e.why === 'etcd alone would act outside /public').length).toBeGreaterThan(20);
  });

  it(`sends ${generatedCount} generated targets (seed ${seed}) and no key outside /public changes`, async () => {
    const cases = generateCases(seed, generatedCount);
    const all: CaseResult[] = [];
    const problems: string[] = [];
    const batch = 500;
    for (let start = 0; start < cases.length; start += batch) {
      const results = await runCases(cases.slice(start, start + batch));
      all.push(...results);
      problems.push(...results.flatMap((r) => violations(r).map((v) => `#${cases.indexOf(r.fuzzCase)} ${r.fuzzCase.method} ${short(r.fuzzCase.target)}: ${v}`)));
      // One recursive listing per batch instead of one per request.
      problems.push(...(await changesOutsidePublic(all)));
      if (problems.length > 0) break;
    }
    expect(problems).toEqual([]);
    // The run is only worth something if it really attacked: etcd alone would
    // have been escaped by many of these, and the proxy let many writes through.
    const escapes = all.filter((r) => r.direct.key !== undefined && !insidePublic(r.direct.key) && r.direct.status < 300).length;
    const allowed = all.filter((r) => r.proxied.status >= 200 && r.proxied.status < 300).length;
    const histogram = new Map<string, number>();
    for (const r of all) histogram.set(`${r.proxied.status}/${r.direct.status}`, (histogram.get(`${r.proxied.status}/${r.direct.status}`) ?? 0) + 1);
    if (process.env.FUZZ_SAMPLES === '1') {
      const shown = new Map<string, number>();
      for (const r of all) {
        const k = `${r.proxied.status}/${r.direct.status}`;
        if ((shown.get(k) ?? 0) >= 3) continue;
        shown.set(k, (shown.get(k) ?? 0) + 1);
        console.log(k, r.fuzzCase.method, r.fuzzCase.target.slice(0, 200), r.direct.key ?? '');
      }
    }
    console.log([...histogram].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}:${v}`).join(' '));
    console.log(`fuzz: ${all.length} requests, ${allowed} allowed by the proxy, ${escapes} that etcd alone would have applied outside /public`);

    expect(escapes).toBeGreaterThan(generatedCount / 40);
    expect(allowed).toBeGreaterThan(generatedCount / 100);

    if (process.env.FUZZ_WRITE_CORPUS === '1') {
      const kept = new Map<string, CorpusEntry>();
      const perKind = new Map<string, number>();
      for (const result of all) {
        const why = interesting(result);
        if (why === undefined) continue;
        const kind = `${why}|${result.proxied.forwarded ? 'etcd' : result.proxied.status}|${result.direct.status}|${result.fuzzCase.method}`;
        const taken = perKind.get(kind) ?? 0;
        if (taken >= (why.startsWith('etcd alone') ? 12 : 4) || result.fuzzCase.target.length > 2000) continue;
        perKind.set(kind, taken + 1);
        kept.set(`${result.fuzzCase.method} ${result.fuzzCase.target}`, {
          method: result.fuzzCase.method, target: result.fuzzCase.target, proxy: result.proxied.forwarded ? 'etcd' : result.proxied.status, etcd: result.direct.status,
          ...(result.direct.key === undefined ? {} : { etcdKey: result.direct.key }), why,
        });
      }
      writeFileSync(corpusFile, JSON.stringify([...kept.values()], null, 1) + '\n');
    }
  }, 180_000);
});
