// The primary of a cluster of proxy processes (`workers: N`, node:cluster).
// It serves no request: it forks the workers (worker.ts), hands each the
// config bytes it validated, the v3 token secret and the TLS ticket keys,
// restarts a worker that dies (its clients reconnect to the others and
// watch again, as across an etcd restart), applies a reload to every worker,
// answers the failed-login limit for all of them, relays v3 token uses
// between them, asks them for /clients, open watches and metrics, and stops
// them. Connections are handed out round-robin (node:cluster's SCHED_RR), so
// wrk's 32 connections land 16 and 16.
import cluster, { type Worker } from 'node:cluster';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { FailedAuthLimiter } from '../auth/failure-limiter.js';
import { isMessage, type Answers, type ConfigOnTheWire, type FromWorker, type Question, type ToWorker, type TokenUse } from './messages.js';

export interface ClusterOptions {
  readonly workers: number;
  readonly config: ConfigOnTheWire;
  readonly log: Logger;
  readonly limiter: FailedAuthLimiter;
  /** How long a stopping worker may take (its shutdown grace, and some). */
  readonly stopTimeoutMs: () => number;
}

interface Waiting {
  readonly pending: Set<Worker>;
  readonly values: unknown[];
  readonly done: () => void;
}

/** A worker that dies this soon after starting is crash-looping: restarts back off up to maxRestartDelayMs. */
const healthyRunMs = 30_000;
const maxRestartDelayMs = 30_000;
/** A question a worker has not answered in this long is answered without it (it is dying or stuck). */
const answerTimeoutMs = 5_000;
/** Live v3 tokens remembered, as TokenIssuer remembers them. */
const maxTokenUses = 100_000;

export class ClusterPrimary {
  private config: ConfigOnTheWire;
  private readonly tokenSecret = randomBytes(32).toString('base64');
  private readonly ticketKeys = randomBytes(48).toString('base64');
  private readonly tokenUses = new Map<string, number>();
  private readonly live = new Set<Worker>();
  private readonly waiting = new Map<number, Waiting>();
  private nextId = 1;
  private stopping = false;
  private failures = 0;
  private started = false;

  constructor(private readonly options: ClusterOptions) {
    this.config = options.config;
    cluster.schedulingPolicy = cluster.SCHED_RR;
    cluster.setupPrimary({ exec: fileURLToPath(new URL('./worker.js', import.meta.url)), args: [] });
  }

  get workers(): number {
    return this.live.size;
  }

  /** Forks every worker; resolves with the URL once all listen, rejects if one dies first. */
  async start(): Promise<string> {
    const urls = await Promise.all(Array.from({ length: this.options.workers }, () => this.fork()));
    this.started = true;
    return urls[0] ?? '';
  }

  /** Hands a validated config to every worker; resolves with what waits for a restart, once all applied it. */
  async reload(config: ConfigOnTheWire): Promise<string[]> {
    this.config = config;
    const replies = await this.askAll((id) => ({ kind: 'reload', id, config }));
    return [...new Set(replies.flatMap((reply) => (Array.isArray(reply) ? (reply as string[]) : [])))];
  }

  /** Every live worker's answer (a worker that does not answer in time is left out). */
  async ask<Q extends Question>(question: Q): Promise<Answers[Q][]> {
    return (await this.askAll((id) => ({ kind: 'ask', id, question }))) as Answers[Q][];
  }

  /** Stops every worker as a single proxy stops (watches cut, requests drained) and waits for them. */
  async stop(): Promise<void> {
    this.stopping = true;
    const exits = [...this.live].map((worker) => new Promise<void>((resolve) => {
      const kill = setTimeout(() => worker.process.kill('SIGKILL'), this.options.stopTimeoutMs());
      worker.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      this.send(worker, { kind: 'stop' });
    }));
    await Promise.all(exits);
  }

  private fork(): Promise<string> {
    const worker = cluster.fork();
    const startedAt = Date.now();
    return new Promise((resolve, reject) => {
      let listening = false;
      worker.on('message', (message: unknown) => {
        if (!isMessage<FromWorker>(message)) return;
        if (message.kind === 'ready') {
          this.send(worker, { kind: 'start', config: this.config, tokenSecret: this.tokenSecret, ticketKeys: this.ticketKeys, tokenUses: [...this.tokenUses] });
          return;
        }
        if (message.kind === 'listening' && !listening) {
          listening = true;
          this.live.add(worker);
          resolve(message.url);
          return;
        }
        this.receive(worker, message);
      });
      worker.once('exit', (code, signal) => {
        this.live.delete(worker);
        for (const waiting of this.waiting.values()) this.answered(waiting, worker, undefined);
        if (!listening) reject(new Error(`proxy worker ${worker.id} exited (${signal ?? code}) before listening`));
        // At start a worker that cannot listen fails the start (the port is taken, say): no restart loop.
        if (this.stopping || !this.started) return;
        this.failures = Date.now() - startedAt > healthyRunMs ? 1 : this.failures + 1;
        const delayMs = Math.min(maxRestartDelayMs, 500 * 2 ** (this.failures - 1));
        this.options.log.error({ worker: worker.id, pid: worker.process.pid, code, signal, restartInMs: delayMs }, 'proxy worker died; its clients reconnect to the others; starting a new one');
        setTimeout(() => {
          if (this.stopping) return;
          this.fork().then(
            () => this.options.log.info({ workers: this.live.size }, 'proxy worker replaced'),
            // Its own exit schedules the next try.
            (error: unknown) => this.options.log.error({ err: error }, 'a new proxy worker did not start'),
          );
        }, delayMs);
      });
    });
  }

  private receive(worker: Worker, message: FromWorker): void {
    switch (message.kind) {
      case 'limit-check':
        this.send(worker, { kind: 'limit', id: message.id, decision: this.options.limiter.check(message.address, message.user) });
        return;
      case 'limit-failure':
        this.options.limiter.recordFailure(message.address, message.user);
        return;
      case 'limit-success':
        this.options.limiter.recordSuccess(message.address, message.user);
        return;
      case 'token-uses':
        this.rememberTokenUses(message.uses);
        for (const other of this.live) if (other !== worker) this.send(other, { kind: 'token-uses', uses: message.uses });
        return;
      case 'reloaded':
        this.reply(message.id, worker, message.atNextRestart);
        return;
      case 'reload-failed':
        this.options.log.error({ worker: worker.id, error: message.error }, 'a proxy worker could not apply the validated config');
        this.reply(message.id, worker, []);
        return;
      case 'answer':
        this.reply(message.id, worker, message.value);
        return;
      case 'listening':
      case 'ready':
        return;
    }
  }

  private askAll(message: (id: number) => ToWorker): Promise<unknown[]> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish(), answerTimeoutMs);
      const finish = (): void => {
        clearTimeout(timer);
        this.waiting.delete(id);
        resolve(waiting.values);
      };
      const waiting: Waiting = { pending: new Set(this.live), values: [], done: finish };
      this.waiting.set(id, waiting);
      if (waiting.pending.size === 0) finish();
      for (const worker of waiting.pending) this.send(worker, message(id));
    });
  }

  private reply(id: number, worker: Worker, value: unknown): void {
    const waiting = this.waiting.get(id);
    if (waiting !== undefined) this.answered(waiting, worker, value);
  }

  private answered(waiting: Waiting, worker: Worker, value: unknown): void {
    if (!waiting.pending.delete(worker)) return;
    if (value !== undefined) waiting.values.push(value);
    if (waiting.pending.size === 0) waiting.done();
  }

  private rememberTokenUses(uses: readonly TokenUse[]): void {
    for (const [nonce, at] of uses) {
      this.tokenUses.delete(nonce);
      this.tokenUses.set(nonce, at);
    }
    while (this.tokenUses.size > maxTokenUses) {
      const oldest = this.tokenUses.keys().next();
      if (oldest.done === true) break;
      this.tokenUses.delete(oldest.value);
    }
  }

  private send(worker: Worker, message: ToWorker): void {
    if (worker.isConnected()) worker.send(message);
  }
}
