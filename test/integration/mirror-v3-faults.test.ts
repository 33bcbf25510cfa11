import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import type { Etcd3 } from 'etcd3';
import { beforeAll, describe, expect, it } from 'vitest';
import type { MirrorOptions } from '../../mirror/options.js';
import { startMirrorV3 } from '../../mirror/v3/main.js';
import { cliPath } from '../fixtures/proxy.js';
import { capturedLogger, mirrorOptions, useSourceAndReplica, waitFor } from './mirror-helpers.js';
import { metricsText, recorded, useV3Clients, v3KeyValues, waitV3Converged, type V3Clients } from './mirror-v3-helpers.js';

/**
 * Exactly once: a key the mirror created on the replica has had one put
 * there per put on the source, so its version matches. A skipped event
 * shows as a different value, an event applied twice as a higher version.
 */
async function expectSameVersions(clients: V3Clients, sourcePrefix: string, replicaPrefix: string): Promise<void> {
  const source = await v3KeyValues(clients.source, sourcePrefix);
  const replica = await v3KeyValues(clients.replica, replicaPrefix);
  const versions = (kvs: Map<string, { version: string; value: Buffer }>): Record<string, string> =>
    Object.fromEntries([...kvs].map(([key, kv]) => [key, `${kv.value.toString()}@v${kv.version}`]));
  expect(versions(replica)).toEqual(versions(source));
  expect(source.size).toBeGreaterThan(0);
}

/** Writes (and now and then deletes) keys one batch after another, shrugging off errors while a cluster is down. */
function backgroundWriter(client: Etcd3, prefix: string, keys: number) {
  let stop = false;
  let written = 0;
  const run = (async () => {
    for (let i = 0; !stop; i++) {
      try {
        if (i % 97 === 0) await client.delete().key(`${prefix}k${i % keys}`);
        else await client.put(`${prefix}k${i % keys}`).value(String(i));
        written += 1;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await new Promise((resolve) => setTimeout(resolve, 3));
    }
  })();
  return {
    written: () => written,
    async stop() {
      stop = true;
      await run;
    },
  };
}

describe('v3 mirror after SIGKILL', () => {
  const clusters = useSourceAndReplica();
  const clients = useV3Clients(clusters);
  beforeAll(async () => {
    // The SIGKILL test runs the real CLI as a process; tsc emits even when
    // files elsewhere are mid-edit, so a failing exit code is ignored.
    await promisify(execFile)('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: new URL('../..', import.meta.url).pathname }).catch(() => undefined);
    if (!existsSync(cliPath)) throw new Error(`${cliPath} was not built`);
  }, 120_000);

  function spawnMirror(extra: string[]): { child: ChildProcess; output: () => string } {
    const child = spawn(process.execPath, [cliPath, 'mirror', '--api', 'v3', '--src-prefix', '/kill', '--dst-prefix', '/killr', '--port', '0', '--status-host', '127.0.0.1', '--log-level', 'info', ...extra], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ETCD_WARDEN_MIRROR_SRC: clusters.source.clientUrl, ETCD_WARDEN_MIRROR_DST: clusters.replica.clientUrl },
    });
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    return { child, output: () => output };
  }

  it('resumes from the recorded revision after a SIGKILL mid-burst: every source event applied exactly once', async () => {
    const first = spawnMirror(['--reload']);
    await waitFor(async () => (await recorded(clients.replica, '__etcd_warden/replication/killr')) !== undefined, 15_000, 'the first record');
    // 4,000 writes to the same 60 keys, 25 at a time: a replay after the
    // kill meets keys that later revisions already changed.
    const burst = (async () => {
      for (let i = 0; i < 4_000; i += 25) {
        await Promise.all(Array.from({ length: 25 }, (_, j) => clients.source.put(`/kill/k${(i + j) % 60}`).value(String(i + j))));
        if (i % 500 === 0) await clients.source.delete().key(`/kill/k${i % 60}`);
      }
    })();
    await waitFor(async () => ((await recorded(clients.replica, '__etcd_warden/replication/killr')) ?? 0) > 0 && first.output().includes('"msg":"starting replication"'), 15_000, 'replication');
    await new Promise((resolve) => setTimeout(resolve, 600));
    first.child.kill('SIGKILL');
    await new Promise((resolve) => first.child.once('exit', resolve));
    const atKill = await recorded(clients.replica, '__etcd_warden/replication/killr');
    await burst;
    const lastWrite = Number((await clients.source.get('/kill/k0').exec()).header.revision);
    expect(atKill).toBeLessThan(lastWrite);
    const second = spawnMirror([]);
    try {
      await waitV3Converged(clients, '/kill/', '/killr/kill/', 30_000);
      await expectSameVersions(clients, '/kill/', '/killr/kill/');
      expect(second.output()).toContain(`"revision":${atKill ?? 'none'},"recordKey":"__etcd_warden/replication/killr","msg":"starting replication"`);
      expect(second.output()).not.toContain('resync');
      expect(second.output()).not.toContain('"level":50');
    } finally {
      const exited = new Promise((resolve) => second.child.once('exit', resolve));
      second.child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  });
});

describe('v3 mirror heals and survives faults', () => {
  const clusters = useSourceAndReplica();
  const clients = useV3Clients(clusters);
  const options = (srcPrefix: string, dstPrefix: string, overrides: Partial<MirrorOptions> = {}): MirrorOptions =>
    mirrorOptions(clusters.source.clientUrl, clusters.replica.clientUrl, { srcPrefix, dstPrefix, ...overrides });

  it('heals a source compacted past the record with a diff, writing only what changed', async () => {
    const first = await startMirrorV3(options('/cmp', '/cmpr'), capturedLogger().logger);
    for (let i = 0; i < 20; i++) await clients.source.put(`/cmp/k${i}`).value(String(i));
    await waitV3Converged(clients, '/cmp/', '/cmpr/cmp/');
    await first.stop();
    const before = await v3KeyValues(clients.replica, '/cmpr/cmp/');
    await clients.source.put('/cmp/k1').value('changed');
    await clients.source.delete().key('/cmp/k2');
    await clients.source.put('/cmp/new').value('n');
    for (let i = 0; i < 10; i++) await clients.source.put(`/elsewhere/k${i}`).value(String(i));
    const current = (await clients.source.get('/cmp/new').exec()).header.revision;
    await clients.source.kv.compact({ revision: current, physical: true });

    const { logger, lines } = capturedLogger();
    const second = await startMirrorV3(options('/cmp', '/cmpr', { reload: false }), logger);
    try {
      await waitV3Converged(clients, '/cmp/', '/cmpr/cmp/');
      await waitFor(async () => lines.some((line) => line.msg === 'resync done'), 10_000, 'the resync');
      expect(lines.find((line) => line.msg === 'resync done')).toMatchObject({ reason: 'index_cleared', puts: 2, deletes: 1, unchanged: 18 });
      expect(lines.some((line) => line.msg === 'source history lost: resyncing' && typeof line.reason === 'string' && line.reason.includes('compacted'))).toBe(true);
      expect(await metricsText(second.statusPort)).toMatch(/^etcd_warden_mirror_resyncs_total\{reason="index_cleared",api="v3"\} 1$/m);
      const after = await v3KeyValues(clients.replica, '/cmpr/cmp/');
      for (const key of ['k0', 'k3', 'k19']) expect(after.get(key)?.mod_revision).toBe(before.get(key)?.mod_revision);
      await clients.source.put('/cmp/k0').value('after');
      await waitFor(async () => (await clients.replica.get('/cmpr/cmp/k0').string()) === 'after', 10_000, 'replication after the resync');
    } finally {
      await second.stop();
    }
  });

  it('exits on a compacted source with --on-index-cleared exit, naming --reload', async () => {
    const first = await startMirrorV3(options('/cmx', '/cmxr'), capturedLogger().logger);
    await clients.source.put('/cmx/a').value('1');
    await waitV3Converged(clients, '/cmx/', '/cmxr/cmx/');
    await first.stop();
    await clients.source.put('/cmx/a').value('2');
    const current = (await clients.source.put('/cmx/b').value('3').exec()).header.revision;
    await clients.source.kv.compact({ revision: current, physical: true });
    const second = await startMirrorV3(options('/cmx', '/cmxr', { reload: false, onIndexCleared: 'exit' }), capturedLogger().logger);
    const exit = await second.done;
    await second.stop();
    expect(exit.code).toBe(1);
    expect(exit.reason).toContain('compacted');
    expect(exit.reason).toContain('--reload');
  });

  it('keeps its place while the source, then the destination, stop and restart mid-stream', async () => {
    const { logger, lines } = capturedLogger();
    const mirror = await startMirrorV3(options('/rs', '/rsr'), logger);
    await waitFor(async () => (await recorded(clients.replica, '__etcd_warden/replication/rsr')) !== undefined, 15_000, 'the reload');
    const writer = backgroundWriter(clients.source, '/rs/', 30);
    try {
      await waitFor(async () => writer.written() > 100, 15_000, 'writes');
      await clusters.source.pause();
      await new Promise((resolve) => setTimeout(resolve, 500));
      await clusters.source.resume();
      const afterSource = writer.written();
      await waitFor(async () => writer.written() > afterSource + 100, 20_000, 'writes after the source restart');
      await clusters.replica.pause();
      const duringReplica = writer.written();
      await waitFor(async () => writer.written() > duringReplica + 100, 20_000, 'writes while the replica is down');
      await clusters.replica.resume();
      await writer.stop();
      await waitV3Converged(clients, '/rs/', '/rsr/rs/', 30_000);
      await expectSameVersions(clients, '/rs/', '/rsr/rs/');
      expect(lines.some((line) => line.msg === 'source watch failed, retrying')).toBe(true);
      expect(lines.some((line) => line.msg === 'destination write failed, retrying')).toBe(true);
      expect(lines.filter((line) => line.level === 50)).toEqual([]);
    } finally {
      await writer.stop();
      await mirror.stop();
    }
  });
});
