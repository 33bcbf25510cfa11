// A worker's side of what the primary holds for all proxy processes: the
// failed-login limit (asked over IPC, so it stays one limit, never one per
// worker) and the v3 token uses (told in batches, so a token issued or used
// on one worker is good on every other).
import { FailedAuthLimiter, type FailedLoginLimit, type LimitDecision } from '../auth/failure-limiter.js';
import type { FromWorker, TokenUse } from './messages.js';

export type SendToPrimary = (message: FromWorker) => void;

// The primary answers in well under a millisecond; it can only be this late
// if it is gone or stuck, and then this worker's own count decides.
const answerTimeoutMs = 2_000;

/**
 * The primary's limiter, asked before each verification of a credential not
 * yet proven (µs: once per new login, next to a 71 ms bcrypt check). Every
 * failure is also counted here, so a worker cut off from its primary still
 * slows guessing on its own.
 */
export class PrimaryLimiter implements FailedLoginLimit {
  private readonly local = new FailedAuthLimiter();
  private readonly waiting = new Map<number, (decision: LimitDecision) => void>();
  private nextId = 1;

  constructor(private readonly send: SendToPrimary) {}

  check(clientAddress: string, user: string): Promise<LimitDecision> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        resolve(this.local.check(clientAddress, user));
      }, answerTimeoutMs);
      this.waiting.set(id, (decision) => {
        clearTimeout(timer);
        resolve(decision);
      });
      this.send({ kind: 'limit-check', id, address: clientAddress, user });
    });
  }

  recordFailure(clientAddress: string, user: string): void {
    this.local.recordFailure(clientAddress, user);
    this.send({ kind: 'limit-failure', address: clientAddress, user });
  }

  recordSuccess(clientAddress: string, user: string): void {
    this.local.recordSuccess(clientAddress, user);
    this.send({ kind: 'limit-success', address: clientAddress, user });
  }

  /** The primary's answer to check number `id`. */
  answered(id: number, decision: LimitDecision): void {
    const resolve = this.waiting.get(id);
    this.waiting.delete(id);
    resolve?.(decision);
  }
}

// A token authenticated on one worker is usually used on the same HTTP/2
// connection, hence the same worker; other workers learn it within this.
const tokenUseBatchMs = 100;

/** Token uses of this worker, sent to the primary in batches (one message per 100 ms at most). */
export class TokenUseRelay {
  private readonly pending = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly send: SendToPrimary) {}

  readonly used = (nonce: string, at: number): void => {
    this.pending.set(nonce, at);
    if (this.timer !== undefined) return;
    this.timer = setTimeout(() => this.flush(), tokenUseBatchMs);
    this.timer.unref();
  };

  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.size === 0) return;
    const uses: TokenUse[] = [...this.pending];
    this.pending.clear();
    this.send({ kind: 'token-uses', uses });
  }
}
