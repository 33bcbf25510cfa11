// Secrets stay secret: one proxy is driven through every path a credential
// or a value can take (success, failure, malformed headers, 429, read-only,
// reloads good and bad, etcd down, refused and malformed requests), then all
// it ever printed, every answer it gave and its metrics are searched for the
// passwords, the base64 credentials and the htpasswd hashes.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEtcd, type EtcdProcess } from '../fixtures/etcd.js';
import { form, rawRequest, type RawResponse } from '../fixtures/http.js';
import { basicAuth, htpasswdLine, startProxy, type ProxyProcess } from '../fixtures/proxy.js';
import { requestBytes, sendRaw } from './proxy-hardening-wire.js';

let etcd: EtcdProcess;
let proxy: ProxyProcess;

const passwords = { root: 'Root-Pass-4711', conftool: 'Conf-Pass-0815', legacy: 'Legacy-Pass-2323', later: 'Later-Pass-9090' };
const guesses = ['Guess-Pass-0001', 'Conf-Pass-0815x', 'Guess-Pass-0002'];
const valueSecret = 'Value-Secret-5150';
const lines = {
  root: htpasswdLine('root', passwords.root, 'bcrypt'),
  conftool: htpasswdLine('conftool', passwords.conftool, 'apr1'),
  legacy: htpasswdLine('legacy', passwords.legacy, 'sha1'),
  later: htpasswdLine('later', passwords.later, 'apr1'),
};
const config = { acls: { '/': ['root'], '/conftool': ['root', 'conftool', 'legacy', 'later'] }, logLevel: 'debug' };
const answers: RawResponse[] = [];

async function send(path: string, options: Parameters<typeof rawRequest>[2] = {}): Promise<RawResponse> {
  const response = await rawRequest(proxy.url, path, options);
  answers.push(response);
  return response;
}

const put = (key: string, authorization?: string, extra: Record<string, string> = {}) =>
  send(`/v2/keys${key}`, { method: 'PUT', body: form({ value: 'v' }), headers: { ...(authorization === undefined ? {} : { authorization }), ...extra } });

beforeAll(async () => {
  etcd = await startEtcd('secrets');
  proxy = await startProxy({ upstream: etcd.clientUrl, htpasswd: [lines.root, lines.conftool, lines.legacy], config });
});

afterAll(async () => {
  await proxy?.stop();
  await etcd?.stop();
});

describe('no secret in any log line, answer or metric', () => {
  it('after a run through every path', async () => {
    // Success, for each hash format, twice (verified, then remembered).
    for (const user of ['root', 'conftool', 'legacy'] as const) {
      expect((await put(`/conftool/${user}`, basicAuth(user, passwords[user]))).status).toBe(201);
      expect((await put(`/conftool/${user}`, basicAuth(user, passwords[user]))).status).toBe(200);
    }
    // Wrong passwords, a user not in the list, unknown user, malformed headers.
    expect((await put('/conftool/x', basicAuth('conftool', guesses[1] ?? ''))).status).toBe(401);
    expect((await put('/x', basicAuth('conftool', passwords.conftool))).status).toBe(401);
    expect((await put('/conftool/x', basicAuth('nobody', passwords.root))).status).toBe(401);
    for (const header of [
      'Basic !!!', `Basic ${Buffer.from(passwords.root).toString('base64')}`, `Bearer ${passwords.root}`,
      `Basic ${Buffer.from(`root:${passwords.root}`).toString('base64')} extra`, `basic ${Buffer.from(`root:${passwords.root}`).toString('base64')}x`,
    ]) {
      expect((await put('/conftool/x', header)).status).toBe(401);
    }
    // Brute force from one address until 429.
    let limited = false;
    for (let i = 0; i < 12 && !limited; i++) {
      const response = await send('/v2/keys/conftool/x', {
        method: 'PUT', body: form({ value: 'v' }), localAddress: '127.0.0.9', headers: { authorization: basicAuth('conftool', guesses[i % 3] ?? '') },
      });
      limited = response.status === 429;
    }
    expect(limited).toBe(true);
    // Credentials and values where a request cannot be parsed, or is refused.
    await send(`/v2/keys/conftool/%zz?value=${valueSecret}`, { method: 'PUT', headers: { authorization: basicAuth('root', passwords.root) } });
    await send(`/v2/keys/conftool/ok?value=${valueSecret}&prevValue=${valueSecret}`, { method: 'PUT', headers: { authorization: basicAuth('root', passwords.root) } });
    await sendRaw(proxy.url, requestBytes('PUT', `http://root:${passwords.root}@127.0.0.1/v2/keys/conftool/abs?value=${valueSecret}`, { Connection: 'close' }));
    await sendRaw(proxy.url, requestBytes('put', `/v2/keys/conftool/lower?value=${valueSecret}`, { Authorization: basicAuth('root', passwords.root), Connection: 'close' }));
    await send('/v2/keys/conftool/big', { method: 'PUT', headers: { authorization: basicAuth('root', passwords.root), 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(30 * 1024 * 1024) } }).catch(() => undefined);
    await send('/nothing/here', { method: 'PUT', headers: { authorization: basicAuth('root', passwords.root) } });
    await send('/v2/auth/users/root', { method: 'PUT', body: JSON.stringify({ user: 'root', password: passwords.root }), headers: { authorization: basicAuth('conftool', passwords.conftool) } });

    // A reload that adds a user, one refused because of a bad line, read-only.
    const htpasswdFile = join(proxy.dir, 'htpasswd');
    let mark = proxy.logs().length;
    await writeFile(htpasswdFile, [lines.root, lines.conftool, lines.legacy, lines.later].join('\n') + '\n');
    proxy.signal('SIGHUP');
    await proxy.waitForLog((l) => l.msg === 'config reloaded', mark);
    expect((await put('/conftool/later', basicAuth('later', passwords.later))).status).toBe(201);
    mark = proxy.logs().length;
    await writeFile(htpasswdFile, [lines.root, `eve:${passwords.later}`, `mallory:{PLAIN}${passwords.root}`].join('\n') + '\n');
    proxy.signal('SIGHUP');
    await proxy.waitForLog((l) => l.msg === 'config reload refused; the previous config stays in force', mark);
    await writeFile(htpasswdFile, [lines.root, lines.conftool, lines.legacy, lines.later].join('\n') + '\n');
    mark = proxy.logs().length;
    await proxy.writeConfig({ ...config, readOnly: true });
    proxy.signal('SIGHUP');
    await proxy.waitForLog((l) => l.msg === 'config reloaded', mark);
    expect((await put('/conftool/ro', basicAuth('root', passwords.root))).status).toBe(403);
    mark = proxy.logs().length;
    await proxy.writeConfig(config);
    proxy.signal('SIGHUP');
    await proxy.waitForLog((l) => l.msg === 'config reloaded', mark);

    // etcd down: 502, with credentials on the request.
    await etcd.pause();
    expect((await put('/conftool/down', basicAuth('root', passwords.root))).status).toBe(502);
    await etcd.resume();
    expect((await put('/conftool/up', basicAuth('root', passwords.root))).status).toBe(201);

    const metrics = await rawRequest(proxy.metricsUrl, '/metrics');
    const everything = [proxy.output(), metrics.body, ...answers.map((a) => JSON.stringify(a.headers) + a.body)].join('\n');
    const secrets = [
      ...Object.values(passwords), ...guesses, valueSecret,
      ...Object.entries(passwords).map(([user, password]) => Buffer.from(`${user}:${password}`).toString('base64')),
      ...Object.values(lines).map((line) => line.slice(line.indexOf(':') + 1)),
    ];
    // Each leak with the text around it, so a failure says where it came from.
    const leaked = secrets.filter((secret) => everything.includes(secret)).map((secret) => {
      const at = everything.indexOf(secret);
      return everything.slice(Math.max(0, at - 200), at + secret.length + 40);
    });
    expect(leaked).toEqual([]);
    expect(everything).not.toMatch(/authorization"?\s*:/i);
    // The run really exercised these paths: the log holds each decision.
    const decisions = new Set(proxy.logs().map((l) => l.decision));
    for (const decision of ['allowed', 'denied-auth', 'denied-acl', 'denied-readonly', 'bad-request']) expect(decisions).toContain(decision);
    expect(proxy.logs().some((l) => l.status === 429)).toBe(true);
    expect(proxy.logs().some((l) => l.status === 502)).toBe(true);
  }, 60_000);
});
