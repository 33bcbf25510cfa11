import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { capturedLogger, mirrorOptions, runMirror, v2, waitConverged, waitFor, useSourceAndReplica } from './mirror-helpers.js';

/** Writes keys one after another, shrugging off errors while a cluster is down. */
function backgroundWriter(base: string, prefix: string, keys: number) {
  let stop = false;
  let written = 0;
  const run = (async () => {
    for (let i = 0; !stop; i++) {
      try {
        await v2(base, 'PUT', `${prefix}/k${i % keys}`, { value: String(i) });
        written += 1;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
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

describe('mirror survives faults', () => {
  const clusters = useSourceAndReplica();


  it('keeps its place while the source is stopped and restarted mid-stream', async () => {
    const { logger, lines } = capturedLogger();
    const mirror = await runMirror(mirrorOptions(clusters.source.clientUrl, clusters.replica.clientUrl, { srcPrefix: '/sf', dstPrefix: '/sfr' }), logger);
    const writer = backgroundWriter(clusters.source.clientUrl, '/sf', 30);
    try {
      await waitFor(async () => writer.written() > 50);
      await clusters.source.pause();
      await new Promise((resolve) => setTimeout(resolve, 500));
      await clusters.source.resume();
      const before = writer.written();
      await waitFor(async () => writer.written() > before + 50);
      await writer.stop();
      await waitConverged(clusters.source.clientUrl, '/sf', clusters.replica.clientUrl, '/sfr/sf', 20_000);
      expect(lines.filter((line) => line.level === 50)).toEqual([]);
      expect(await (await fetch(`http://127.0.0.1:${mirror.statusPort}/lag`)).text()).toMatch(/^\d+$/);
    } finally {
      await writer.stop();
      await mirror.stop();
    }
  });

  it('retries with backoff while the destination is stopped and restarted', async () => {
    const { logger, lines } = capturedLogger();
    const mirror = await runMirror(mirrorOptions(clusters.source.clientUrl, clusters.replica.clientUrl, { srcPrefix: '/df', dstPrefix: '/dfr' }), logger);
    const writer = backgroundWriter(clusters.source.clientUrl, '/df', 30);
    try {
      await waitFor(async () => writer.written() > 50);
      await clusters.replica.pause();
      const before = writer.written();
      await waitFor(async () => writer.written() > before + 50);
      await clusters.replica.resume();
      await writer.stop();
      await waitConverged(clusters.source.clientUrl, '/df', clusters.replica.clientUrl, '/dfr/df', 20_000);
      expect(lines.some((line) => typeof line.msg === 'string' && line.msg.includes('failed, retrying'))).toBe(true);
    } finally {
      await writer.stop();
      await mirror.stop();
    }
  });
});

describe('mirror after SIGKILL', () => {
  const clusters = useSourceAndReplica();
  const cli = new URL('../../dist/bin/etcd-warden.js', import.meta.url).pathname;

  beforeAll(async () => {
    // The SIGKILL test needs the real CLI as a process; tsc emits even when
    // files outside the mirror are mid-edit, so a failing exit code is ignored.
    await promisify(execFile)('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: new URL('../..', import.meta.url).pathname }).catch(() => undefined);
    if (!existsSync(cli)) throw new Error(`${cli} was not built`);
  }, 120_000);

  function spawnMirror(extra: string[]): ChildProcess {
    return spawn(process.execPath, [cli, 'mirror', '--src-prefix', '/kill', '--dst-prefix', '/killr', '--port', '0', '--status-host', '127.0.0.1', ...extra], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, ETCD_WARDEN_MIRROR_SRC: clusters.source.clientUrl, ETCD_WARDEN_MIRROR_DST: clusters.replica.clientUrl },
    });
  }

  it('converges after a SIGKILL mid-burst and a restart without --reload, with no strict stop', async () => {
    const first = spawnMirror(['--reload']);
    await waitFor(async () => (await v2(clusters.replica.clientUrl, 'GET', '/__replication/killr')).status === 200, 15_000, 'the first index record');
    // Repeated writes to the same 50 keys: a replay after the kill meets keys
    // that later events already changed, which the pipeline must make safe.
    const burst = (async () => {
      for (let i = 0; i < 3_000; i += 25) {
        await Promise.all(Array.from({ length: 25 }, (_, j) => v2(clusters.source.clientUrl, 'PUT', `/kill/k${(i + j) % 50}`, { value: String(i + j) })));
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 700));
    first.kill('SIGKILL');
    await new Promise((resolve) => first.once('exit', resolve));
    await burst;
    const second = spawnMirror([]);
    let stderr = '';
    second.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    try {
      await waitConverged(clusters.source.clientUrl, '/kill', clusters.replica.clientUrl, '/killr/kill', 30_000);
      expect(second.exitCode).toBeNull();
      expect(stderr).toBe('');
    } finally {
      const exited = new Promise((resolve) => second.once('exit', resolve));
      second.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  });
});
