// The pool starts `verifier-worker.js` next to itself, which exists only in
// the compiled tree, so this test drives dist/ (built by `npm test`'s tsc;
// in a dev loop run `npx tsc -p tsconfig.json` first).
import { execFile } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

type PoolModule = typeof import('../../proxy/auth/verifier-pool.js');
type VerifierModule = typeof import('../../proxy/auth/verifier.js');
type HtpasswdModule = typeof import('../../config/htpasswd.js');

const distPool = resolve('dist/proxy/auth/verifier-pool.js');
const sources = ['proxy/auth/verifier-pool', 'proxy/auth/verifier-worker', 'proxy/auth/password-hash', 'proxy/auth/verifier', 'proxy/auth/credential-cache', 'config/htpasswd'];

function loadCompiledPool(): Promise<PoolModule> {
  if (!existsSync(distPool)) throw new Error(`${distPool} is missing: run \`npx tsc -p tsconfig.json\` (npm test does)`);
  for (const name of sources) {
    const compiled = resolve(`dist/${name}.js`);
    if (statSync(compiled).mtimeMs < statSync(resolve(`${name}.ts`)).mtimeMs) {
      throw new Error(`${compiled} is older than its source: run \`npx tsc -p tsconfig.json\``);
    }
  }
  return import(pathToFileURL(distPool).href) as Promise<PoolModule>;
}

// htpasswd -nbB -C 10 alice10 secret
const BCRYPT_10 = { scheme: 'bcrypt', hash: '$2y$10$/XpsuCxilBPR32GxEwLj8u4iepMdBAbdfxj0wDMh9y4YJE1kDWxzC' } as const;
// htpasswd -nbB -C 12 slow secret   (~280 ms in bcryptjs)
const BCRYPT_12 = { scheme: 'bcrypt', hash: '$2y$12$BdzSN0n2d5gyBL66hIbe6.z1dML6MtUUa6YzdWJ7Xc7iHKlVTP8eW' } as const;
// htpasswd -nbm apr1 secret
const APR1 = { scheme: 'apr1', hash: '$apr1$gy5hhMvq$VPyArKyDCt9HX18MAZnzX.' } as const;
// openssl passwd -6 -salt saltsalt secret
const SHA512 = {
  scheme: 'sha512-crypt',
  hash: '$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1',
} as const;

let mod: PoolModule;
let scratch: string;

beforeAll(async () => {
  mod = await loadCompiledPool();
  scratch = await mkdtemp(join(tmpdir(), 'warden-pool-'));
});

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof mod.VerifierPoolError) return error.code;
    throw error;
  }
  throw new Error('expected a rejection');
}

describe('VerifierPool (compiled)', () => {
  it('verifies bcrypt, apr1 and SHA-512-crypt in workers', async () => {
    const pool = new mod.VerifierPool({ size: 2 });
    try {
      const results = await Promise.all([
        pool.verify(BCRYPT_10, 'secret'),
        pool.verify(BCRYPT_10, 'wrong'),
        pool.verify(APR1, 'secret'),
        pool.verify(APR1, 'wrong'),
        pool.verify(SHA512, 'secret'),
        pool.verify(SHA512, 'Secret'),
      ]);
      expect(results).toEqual([true, false, true, false, true, false]);
    } finally {
      await pool.close();
    }
  });

  it('keeps the event loop turning while a slow hash is checked', async () => {
    const pool = new mod.VerifierPool({ size: 1 });
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    try {
      // A cost-12 check holds its thread ~280 ms; on this thread no tick could run.
      expect(await pool.verify(BCRYPT_12, 'secret')).toBe(true);
      expect(ticks).toBeGreaterThanOrEqual(5);
    } finally {
      clearInterval(timer);
      await pool.close();
    }
  });

  it('queues when every worker is busy and rejects with a typed error once the queue is full', async () => {
    const pool = new mod.VerifierPool({ size: 1, maxQueue: 2 });
    try {
      const running = pool.verify(BCRYPT_12, 'secret');
      const queued = [pool.verify(APR1, 'secret'), pool.verify(APR1, 'wrong')];
      expect(pool.running).toBe(1);
      expect(pool.queued).toBe(2);
      const refused = pool.verify(APR1, 'secret');
      expect(await codeOf(refused)).toBe('EW_AUTH_VERIFIER_SATURATED');
      await expect(refused).rejects.toBeInstanceOf(mod.VerifierPoolSaturatedError);
      expect(await Promise.all([running, ...queued])).toEqual([true, true, false]);
      expect(pool.queued).toBe(0);
    } finally {
      await pool.close();
    }
  });

  it('close() rejects running and queued checks and refuses new ones', async () => {
    const pool = new mod.VerifierPool({ size: 1 });
    const running = codeOf(pool.verify(BCRYPT_12, 'secret'));
    const queued = codeOf(pool.verify(APR1, 'secret'));
    await pool.close();
    expect(await running).toBe('EW_AUTH_VERIFIER_CLOSED');
    expect(await queued).toBe('EW_AUTH_VERIFIER_CLOSED');
    expect(await codeOf(pool.verify(APR1, 'secret'))).toBe('EW_AUTH_VERIFIER_CLOSED');
    await pool.close();
  });

  it('replaces a crashed worker and serves what was queued behind the crash', async () => {
    // A stand-in worker speaking the same protocol, which dies on request.
    const crashy = join(scratch, 'crashy-worker.mjs');
    await writeFile(
      crashy,
      `import { parentPort } from 'node:worker_threads';
parentPort.on('message', (job) => {
  if (job.password === 'crash') throw new Error('worker crashed on purpose');
  parentPort.postMessage({ id: job.id, ok: true, verified: job.password === 'secret' });
});
`,
    );
    const pool = new mod.VerifierPool({ size: 1, workerUrl: pathToFileURL(crashy) });
    try {
      const crashed = pool.verify(APR1, 'crash');
      const behind = pool.verify(APR1, 'secret');
      const crashCode = codeOf(crashed);
      await expect(crashed).rejects.toThrow(/worker crashed on purpose/);
      expect(await crashCode).toBe('EW_AUTH_VERIFIER_CRASHED');
      expect(await behind).toBe(true);
      expect(await pool.verify(APR1, 'wrong')).toBe(false);
    } finally {
      await pool.close();
    }
  });

  it('gives up with a clear error when workers cannot start at all', async () => {
    const pool = new mod.VerifierPool({ size: 2, workerUrl: pathToFileURL(join(scratch, 'missing-worker.js')) });
    try {
      const deadline = Date.now() + 10_000;
      let code = '';
      while (code !== 'EW_AUTH_VERIFIER_BROKEN' && Date.now() < deadline) {
        code = await codeOf(pool.verify(APR1, 'secret'));
        expect(['EW_AUTH_VERIFIER_CRASHED', 'EW_AUTH_VERIFIER_BROKEN']).toContain(code);
      }
      await expect(pool.verify(APR1, 'secret')).rejects.toThrow(/missing-worker\.js.*Cannot find module/);
    } finally {
      await pool.close();
    }
  });

  it('starts workers when checks need them and stops them once idle', async () => {
    const pool = new mod.VerifierPool({ size: 2, idleMs: 200 });
    try {
      expect(pool.workers).toBe(0);
      expect(await Promise.all([pool.verify(APR1, 'secret'), pool.verify(APR1, 'wrong'), pool.verify(APR1, 'secret')])).toEqual([true, false, true]);
      expect(pool.workers).toBe(2);
      await new Promise((resolveWait) => setTimeout(resolveWait, 600));
      expect(pool.workers).toBe(0);
      expect(await pool.verify(BCRYPT_10, 'secret')).toBe(true);
      expect(pool.workers).toBe(1);
    } finally {
      await pool.close();
    }
  });

  it('lets the process exit while idle, and keeps it alive for an awaited check', async () => {
    const script = `
      import { VerifierPool } from ${JSON.stringify(pathToFileURL(distPool).href)};
      const pool = new VerifierPool();
      console.log(await pool.verify(${JSON.stringify(BCRYPT_10)}, 'secret'));
      // no close(): idle, unref'd workers must not hold the process
    `;
    // A file, not `--input-type=module -e`: workers inherit execArgv, and
    // --input-type makes a worker started from a file fail to boot.
    const file = join(scratch, 'idle-exit.mjs');
    await writeFile(file, script);
    const started = Date.now();
    const stdout = await new Promise<string>((resolveRun, reject) => {
      execFile(process.execPath, [file], { timeout: 15_000 }, (error, out) =>
        error === null ? resolveRun(out) : reject(error),
      );
    });
    expect(stdout.trim()).toBe('true');
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});

describe('CredentialVerifier with its real pool (compiled)', () => {
  it('verifies through workers once, then from the cache', async () => {
    const { CredentialVerifier } = (await import(pathToFileURL(resolve('dist/proxy/auth/verifier.js')).href)) as VerifierModule;
    const { parseHtpasswd } = (await import(pathToFileURL(resolve('dist/config/htpasswd.js')).href)) as HtpasswdModule;
    const parsed = parseHtpasswd(`alice:${BCRYPT_10.hash}\nbob:${APR1.hash}\n`, 'test');
    if (!parsed.ok) throw new Error(parsed.errors.join('\n'));
    const verifier = new CredentialVerifier({ table: parsed.table, poolSize: 2 });
    try {
      expect(await verifier.verify('alice', 'wrong')).toBe(false);
      expect(await verifier.verify('nobody', 'secret')).toBe(false);
      const first = performance.now();
      expect(await verifier.verify('alice', 'secret')).toBe(true);
      const uncachedMs = performance.now() - first;
      const second = performance.now();
      expect(await verifier.verify('alice', 'secret')).toBe(true);
      const cachedMs = performance.now() - second;
      expect(await verifier.verify('bob', 'secret')).toBe(true);
      expect(verifier.cachedCredentials).toBe(2);
      // bcrypt cost 10 takes tens of ms; a cache hit is an HMAC.
      expect(cachedMs).toBeLessThan(uncachedMs);
    } finally {
      await verifier.close();
    }
  });
});
