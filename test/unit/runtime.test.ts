// compile(config) → Runtime, and what a reload may change on a running proxy.
import { afterAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../config/schema.js';
import { compileRuntime, runtimeChange, type Runtime } from '../../proxy/runtime.js';

const compiled: Runtime[] = [];
afterAll(() => Promise.all(compiled.map((runtime) => runtime.upstream.destroy())));

function compile(raw: Record<string, unknown>, previous?: Runtime): Runtime {
  const config = validateConfig(raw);
  if (!config.ok) throw new Error(config.errors.join('\n'));
  const runtime = compileRuntime({ file: 'test.yaml', config: config.value, users: new Map(), warnings: [] }, previous);
  compiled.push(runtime);
  return runtime;
}

const base = { acls: { '/open': [] }, heartbeat: { key: '/conftool/heartbeat' } };

describe('compileRuntime', () => {
  it('compiles what the request path reads', () => {
    const runtime = compile({ ...base, maxBodyBytes: 1024, limits: { maxConnections: 5 } });
    expect(runtime).toMatchObject({ maxBodyBytes: 1024, limits: { maxConnections: 5, maxHeaderCount: 100 }, readOnly: false });
    expect(runtime.policy.writeAcl.rules.map((rule) => rule.prefix)).toEqual(['/open']);
  });

  it('compiles the same acls, readAcls, admins and read-only switch for v3, once, with the token lifetime', () => {
    const runtime = compile({ ...base, readOnly: true, readAcls: { '/secret': [] }, admins: ['ops'], v3: { tokenTtlMs: 5_000 } });
    expect(runtime.v3.policy).toMatchObject({ readOnly: true, admins: new Set(['ops']) });
    expect(runtime.v3.policy.write.allRules.map((rule) => rule.prefix)).toEqual(['/open']);
    expect(runtime.v3.policy.read.allRules.map((rule) => rule.prefix)).toEqual(['/secret']);
    expect(runtime.v3.upstream.url.origin).toBe('http://127.0.0.1:2379');
    expect(runtime.v3Settings.tokenTtlMs).toBe(5_000);
  });
});

describe('runtimeChange: what a reload changes in place and what waits for a restart', () => {
  const before = compile(base);
  it.each([
    ['nothing', {}, { atNextRestart: [], upstreamReplaced: false, heartbeatChanged: false }],
    ['limits read per request', { limits: { maxConnections: 5, maxHeaderCount: 10 } }, { atNextRestart: [], upstreamReplaced: false }],
    ['the listen address', { listen: '127.0.0.1:4002' }, { atNextRestart: ['listen changed: takes effect at the next restart'] }],
    ['header bytes and client timeouts, fixed in the listener', { limits: { maxHeaderBytes: 8192 }, timeouts: { clientHeadersMs: 1000 } }, {
      atNextRestart: ['limits.maxHeaderBytes changed: takes effect at the next restart', 'timeouts.clientHeadersMs changed: takes effect at the next restart'],
    }],
    ['the read-only switch: the heartbeat changes role', { readOnly: true }, { upstreamReplaced: false, heartbeatChanged: true }],
    ['the heartbeat interval', { heartbeat: { key: '/conftool/heartbeat', intervalMs: 500 } }, { upstreamReplaced: false, heartbeatChanged: true }],
    ['the upstream: new pools, and the heartbeat follows them', { upstream: 'http://127.0.0.1:2380' }, { upstreamReplaced: true, heartbeatChanged: true }],
    ['an upstream timeout', { timeouts: { upstreamMs: 1000 } }, { upstreamReplaced: true, v3UpstreamReplaced: false }],
    ['the upstream: a new HTTP/2 connection for v3 too', { upstream: 'http://127.0.0.1:2380' }, { v3UpstreamReplaced: true }],
    ['an ACL: the v3 connection to etcd is kept', { acls: { '/open': [], '/other': [] } }, { v3UpstreamReplaced: false }],
  ] as const)('%s', (_name, changed, expected) => {
    const after = compile({ ...base, ...changed }, before);
    expect(runtimeChange(before, after)).toMatchObject(expected);
    expect(after.upstream === before.upstream).toBe(!runtimeChange(before, after).upstreamReplaced);
  });
});
