// The failed-login limit never locks out a credential already proven: a
// python-etcd script keeps writing while a neighbour on the same address
// floods wrong passwords for the same user (issue 8 measured 0 of 40 writes
// in 20 s before). The neighbour is still slowed: 429 with Retry-After.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientScript, debianPython, requirePythonEtcd, runClient, startClient } from '../fixtures/clients.js';
import { rawRequest } from '../fixtures/http.js';
import { startProxiedMember, type ProxiedMember } from '../fixtures/member.js';
import { basicAuth, htpasswdLine } from '../fixtures/proxy.js';

let member: ProxiedMember;

beforeAll(async () => {
  requirePythonEtcd();
  member = await startProxiedMember('limiter', {
    // bcrypt, as production files are moving to: every unproven check costs ~70 ms.
    htpasswd: [htpasswdLine('root', 'root-secret', 'bcrypt'), htpasswdLine('conftool', 'conftool-secret', 'bcrypt')],
    config: { acls: { '/': ['root'], '/conftool': ['root', 'conftool'] } },
  });
});
afterAll(async () => {
  await member?.stop();
});

interface Write {
  readonly i: number;
  readonly ms: number;
  readonly raised?: string;
}

const lines = <T>(text: string): T[] =>
  text.split('\n').flatMap((line) => {
    try {
      return [JSON.parse(line) as T];
    } catch {
      return []; // empty, or the last line cut by SIGTERM
    }
  });

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('failed-login limit and a script that is already writing', () => {
  it('lets every write of a proven python-etcd client through while a neighbour on the same address floods wrong passwords; the neighbour gets 429 with Retry-After', async () => {
    const writer = (count: number) => runClient(debianPython, [clientScript('writer.py'), member.url, 'root', 'root-secret', '/conftool/script', String(count)]);
    // The script has written before: its credential is proven.
    expect(lines<Write>((await writer(1)).stdout)).toEqual([expect.objectContaining({ i: 0 })]);

    const neighbour = startClient(debianPython, [clientScript('guesser.py'), member.url, 'root', '/conftool/script']);
    try {
      // Until the neighbour's address is limited.
      const deadline = Date.now() + 20_000;
      while (!neighbour.stdout().includes('"status": 429') && Date.now() < deadline) await sleep(50);
      expect(neighbour.stdout()).toContain('"status": 429');

      const run = await writer(40);
      const writes = lines<Write>(run.stdout);
      expect(run.stderr).toBe('');
      expect(writes.filter((write) => write.raised !== undefined)).toEqual([]);
      expect(writes).toHaveLength(40);
      const durations = writes.map((write) => write.ms).sort((a, b) => a - b);
      // Information only (speed lives in benchmarks): a Retry-After honoured by urllib3 would show as seconds here.
      console.log(`40 writes under the flood: p50 ${durations[19]?.toFixed(1)} ms, p99 ${durations[39]?.toFixed(1)} ms`);
    } finally {
      await neighbour.stop();
    }
    const seen = lines<{ status: number; retryAfter?: string }>(neighbour.stdout());
    const limited = seen.filter((attempt) => attempt.status === 429);
    expect(seen.filter((attempt) => attempt.status !== 401 && attempt.status !== 429)).toEqual([]);
    expect(limited.length).toBeGreaterThan(0);
    for (const attempt of limited) expect(Number(attempt.retryAfter)).toBeGreaterThan(0);
    // The flood never wrote; the script's last write is what etcd holds.
    const stored = JSON.parse((await rawRequest(member.etcd.clientUrl, '/v2/keys/conftool/script')).body) as { node: { value: string } };
    expect(stored.node.value).toBe('write-39');
    console.log(`the neighbour: ${seen.length} attempts, ${limited.length} answered 429`);
  });

  it('still refuses a correct but never-proven credential from the limited address, and lets it in from another', async () => {
    // The address is still limited by the flood above (60 s window); conftool has never logged in.
    const fromLimited = await rawRequest(member.url, '/v2/keys/conftool/x', { method: 'PUT', body: 'value=1', headers: { authorization: basicAuth('conftool', 'conftool-secret') } });
    expect(fromLimited.status).toBe(429);
    expect(Number(fromLimited.headers['retry-after'])).toBeGreaterThan(0);
    const fromElsewhere = await rawRequest(member.url, '/v2/keys/conftool/x', { method: 'PUT', body: 'value=1', localAddress: '127.0.0.2', headers: { authorization: basicAuth('conftool', 'conftool-secret') } });
    expect(fromElsewhere.status).toBe(201);
    // Proven now: from the limited address too.
    const again = await rawRequest(member.url, '/v2/keys/conftool/x', { method: 'PUT', body: 'value=2', headers: { authorization: basicAuth('conftool', 'conftool-secret') } });
    expect(again.status).toBe(200);
  });

  it('keeps a proven credential proven across a SIGHUP that leaves its htpasswd line unchanged', async () => {
    const mark = member.proxy.logs().length;
    member.proxy.signal('SIGHUP');
    await member.proxy.waitForLog((line) => line.msg === 'config reloaded', mark);
    // Straight, without urllib3's retries: a 429 here would be the lock-out.
    const direct = await rawRequest(member.url, '/v2/keys/conftool/script', { method: 'PUT', body: 'value=after-reload', headers: { authorization: basicAuth('root', 'root-secret') } });
    expect(direct.status).toBe(200);
    const run = await runClient(debianPython, [clientScript('writer.py'), member.url, 'root', 'root-secret', '/conftool/script', '3']);
    expect(lines<Write>(run.stdout).filter((write) => write.raised === undefined)).toHaveLength(3);
  });
});
