// Shared helpers for the mirror integration tests: raw v2 writes on the
// source, flattened listings to compare clusters, and an in-process mirror.
import { pino, type Logger } from 'pino';
import { Writable } from 'node:stream';
import { afterAll, beforeAll } from 'vitest';
import { startEtcd, type EtcdProcess } from '../fixtures/etcd.js';
import { startMirror, type RunningMirror } from '../../mirror/main.js';
import type { MirrorOptions } from '../../mirror/options.js';

export async function v2(
  base: string,
  method: 'GET' | 'PUT' | 'POST' | 'DELETE',
  key: string,
  params: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const form = new URLSearchParams(params).toString();
  const bodyMethod = method === 'PUT' || method === 'POST';
  const url = `${base}/v2/keys${key}${!bodyMethod && form !== '' ? `?${form}` : ''}`;
  const response = await fetch(url, {
    method,
    headers: bodyMethod ? { 'content-type': 'application/x-www-form-urlencoded' } : {},
    body: bodyMethod ? form : undefined,
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

interface ListedNode {
  key?: string;
  dir?: boolean;
  value?: string;
  nodes?: ListedNode[];
}

/** Recursive listing below `root` as "relative path → value or <dir>", indexes ignored. */
export async function listing(base: string, root: string): Promise<Record<string, string>> {
  const response = await fetch(`${base}/v2/keys${root}?recursive=true&sorted=true`);
  const out: Record<string, string> = {};
  if (response.status === 404) return out;
  const body = (await response.json()) as { node?: ListedNode };
  const visit = (node: ListedNode): void => {
    const key = node.key ?? '/';
    const relative = root === '/' ? key : key.slice(root.length);
    if (relative !== '' && relative !== '/') out[relative] = node.dir === true ? '<dir>' : (node.value ?? '');
    for (const child of node.nodes ?? []) visit(child);
  };
  if (body.node !== undefined) visit(body.node);
  return out;
}

export async function waitFor(check: () => Promise<boolean>, timeoutMs = 15_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    // A check that throws (key not there yet) counts as "not yet".
    if (await check().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Waits until the destination subtree equals the source subtree, then returns both. */
export async function waitConverged(src: string, srcRoot: string, dst: string, dstRoot: string, timeoutMs = 15_000): Promise<Record<string, string>> {
  let last = { a: {}, b: {} } as { a: Record<string, string>; b: Record<string, string> };
  try {
    await waitFor(async () => {
      last = { a: await listing(src, srcRoot), b: await listing(dst, dstRoot) };
      return JSON.stringify(last.a) === JSON.stringify(last.b);
    }, timeoutMs, 'replica to converge');
  } catch (error) {
    throw new Error(`${(error as Error).message}\nsource: ${JSON.stringify(last.a)}\nreplica: ${JSON.stringify(last.b)}`);
  }
  return last.a;
}

export interface CapturedLog {
  logger: Logger;
  lines: Array<Record<string, unknown>>;
}

export function capturedLogger(level = 'debug'): CapturedLog {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  return { logger: pino({ level }, sink), lines };
}

export function mirrorOptions(src: string, dst: string, overrides: Partial<MirrorOptions> = {}): MirrorOptions {
  return {
    api: 'v2',
    src,
    dst,
    tls: {},
    srcPrefix: '/conftool',
    dstPrefix: '/replica',
    strip: false,
    port: 0,
    statusHost: '127.0.0.1',
    reload: true,
    onIndexCleared: 'resync',
    idleRenewMs: 1_000,
    logLevel: 'debug',
    ...overrides,
  };
}

export async function runMirror(options: MirrorOptions, log: Logger = capturedLogger().logger): Promise<RunningMirror> {
  return startMirror(options, log);
}

export interface SourceAndReplica {
  readonly source: EtcdProcess;
  readonly replica: EtcdProcess;
}

/** A source and a replica etcd for the enclosing describe block, stopped after it. */
export function useSourceAndReplica(): SourceAndReplica {
  let started: EtcdProcess[] = [];
  beforeAll(async () => {
    started = await Promise.all([startEtcd('src'), startEtcd('dst')]);
  });
  afterAll(async () => {
    await Promise.all(started.map((etcd) => etcd.stop()));
  });
  const cluster = (index: number): EtcdProcess => {
    const etcd = started[index];
    if (etcd === undefined) throw new Error('the source and replica are only there inside their describe block');
    return etcd;
  };
  return {
    get source() {
      return cluster(0);
    },
    get replica() {
      return cluster(1);
    },
  };
}
