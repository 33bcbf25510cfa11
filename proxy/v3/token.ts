// The tokens the proxy hands out for Auth.Authenticate, and checks on every
// v3 call (gRPC metadata `token`, or `authorization` as the gateway sends).
//
// Format: base64url(user) "." base64url(16 random bytes) "." base64url(MAC),
// the MAC an HMAC-SHA256 (per-process secret) over the user, the nonce and
// the user's htpasswd hash at issue. So a token cannot name another user,
// and it dies when that user's password changes or the user is removed,
// without a list of revocations.
//
// Lifetime: etcd's "simple" tokens (its default) live 300 s from their last
// use (--auth-token-ttl), and clients are built around that: python-etcd3
// 0.12 authenticates once in its constructor and never again, so a fixed
// expiry would break every long-running python client, while an active one
// stays logged in forever on etcd. We keep the same rule: each token's last
// use is remembered (bounded, least recently used first out); a token unused
// for ttlMs, evicted, or from before a restart (new secret) is answered with
// etcd's "invalid auth token", on which etcdctl (clientv3) and the Node
// etcd3 client authenticate again by themselves.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export interface TokenIssuerOptions {
  /** A user's current htpasswd hash, undefined when they have none. */
  readonly currentHash: (user: string) => string | undefined;
  /** Idle lifetime, read at each check (a reload may change it); default 300 s, etcd's --auth-token-ttl default. */
  readonly ttlMs?: () => number;
  /** Live tokens remembered at most; default 100,000. */
  readonly maxTokens?: number;
  readonly now?: () => number;
  readonly secret?: Buffer;
  /**
   * Told of every issue and use. With several proxy processes (one secret,
   * from their primary) each tells the others through the primary
   * (learnUse), so a token from one is good on all while used on any.
   */
  readonly used?: (nonce: string, at: number) => void;
}

export class TokenIssuer {
  private readonly ttlMs: () => number;
  readonly maxTokens: number;
  private readonly now: () => number;
  private readonly secret: Buffer;
  private readonly currentHash: (user: string) => string | undefined;
  private readonly used: ((nonce: string, at: number) => void) | undefined;
  // Nonce -> last use. Map order = least recently used first.
  private readonly lastUse = new Map<string, number>();

  constructor(options: TokenIssuerOptions) {
    this.ttlMs = options.ttlMs ?? (() => 300_000);
    this.maxTokens = options.maxTokens ?? 100_000;
    this.now = options.now ?? Date.now;
    this.secret = options.secret ?? randomBytes(32);
    this.currentHash = options.currentHash;
    this.used = options.used;
  }

  /** A use seen by another process: kept when it is the newest, so the token lives on here too. */
  learnUse(nonce: string, at: number): void {
    const last = this.lastUse.get(nonce);
    if (last === undefined || last < at) this.touch(nonce, at);
  }

  /** Tokens currently live (for metrics). */
  get liveTokens(): number {
    return this.lastUse.size;
  }

  /** A new token for a user whose password was just verified. */
  issue(user: string): string {
    const hash = this.currentHash(user);
    if (hash === undefined) throw new Error(`cannot issue a token for ${user}: no htpasswd entry`);
    const encodedUser = Buffer.from(user, 'utf8').toString('base64url');
    const nonce = randomBytes(16).toString('base64url');
    this.use(nonce);
    return `${encodedUser}.${nonce}.${this.mac(encodedUser, nonce, hash).toString('base64url')}`;
  }

  /** The token's user, or undefined when it is not valid now; a valid token's lifetime restarts. */
  verify(token: string): string | undefined {
    const parts = token.split('.');
    if (parts.length !== 3) return undefined;
    const [encodedUser = '', nonce = '', sentMac = ''] = parts;
    const user = Buffer.from(encodedUser, 'base64url').toString('utf8');
    const hash = this.currentHash(user);
    if (hash === undefined) return undefined;
    const expected = this.mac(encodedUser, nonce, hash);
    const sent = Buffer.from(sentMac, 'base64url');
    if (sent.length !== expected.length || !timingSafeEqual(sent, expected)) return undefined;
    const last = this.lastUse.get(nonce);
    if (last === undefined) return undefined;
    if (this.now() - last > this.ttlMs()) {
      this.lastUse.delete(nonce);
      return undefined;
    }
    this.use(nonce);
    return user;
  }

  private mac(encodedUser: string, nonce: string, hash: string): Buffer {
    return createHmac('sha256', this.secret).update(`${encodedUser}\0${nonce}\0${hash}`, 'utf8').digest();
  }

  /** This process issued or accepted the token now. */
  private use(nonce: string): void {
    const at = this.now();
    this.touch(nonce, at);
    this.used?.(nonce, at);
  }

  private touch(nonce: string, at: number): void {
    this.lastUse.delete(nonce);
    this.lastUse.set(nonce, at);
    while (this.lastUse.size > this.maxTokens) {
      const oldest = this.lastUse.keys().next();
      if (oldest.done === true) break;
      this.lastUse.delete(oldest.value);
    }
  }
}
