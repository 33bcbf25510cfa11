// Helpers for the operator-command tests: a real multi-member etcd cluster
// (the fixture starts single members), and the compiled CLI run as a child
// process without blocking the event loop (an in-process mirror must keep
// replicating while a command waits for it).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../fixtures/etcd.js';
import { cliPath } from '../fixtures/proxy.js';

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function runCli(args: readonly string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export interface EtcdCluster {
  readonly clientUrls: readonly string[];
  /** Stops one member (SIGTERM), keeping its data. */
  stopMember(index: number): Promise<void>;
  stop(): Promise<void>;
}

/** A real `size`-member etcd 3.4 cluster on loopback ports, v2 enabled. */
export async function startEtcdCluster(size: number): Promise<EtcdCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'etcd-warden-cluster-'));
  const members = [];
  for (let i = 0; i < size; i++) members.push({ name: `m${i}`, client: `http://127.0.0.1:${await freePort()}`, peer: `http://127.0.0.1:${await freePort()}` });
  const initialCluster = members.map((member) => `${member.name}=${member.peer}`).join(',');
  const children: ChildProcess[] = members.map((member) =>
    spawn('etcd', [
      '--name', member.name, '--data-dir', join(dir, member.name),
      '--listen-client-urls', member.client, '--advertise-client-urls', member.client,
      '--listen-peer-urls', member.peer, '--initial-advertise-peer-urls', member.peer,
      '--initial-cluster', initialCluster, '--initial-cluster-state', 'new', '--initial-cluster-token', dir,
      '--enable-v2', '--log-level', 'error',
    ], { stdio: 'ignore' }),
  );
  const halt = (child: ChildProcess | undefined): Promise<void> =>
    new Promise((resolve) => {
      if (child === undefined || child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  const deadline = Date.now() + 30_000;
  for (const member of members) {
    for (;;) {
      const ok = await fetch(`${member.client}/health`).then((response) => response.ok, () => false);
      if (ok) break;
      if (Date.now() > deadline) {
        await Promise.all(children.map(halt));
        await rm(dir, { recursive: true, force: true });
        throw new Error(`the ${size}-member cluster did not become healthy within 30 s`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  return {
    clientUrls: members.map((member) => member.client),
    stopMember: (index) => halt(children[index]),
    async stop() {
      await Promise.all(children.map(halt));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
