// What the primary and its proxy workers tell each other over the cluster's
// IPC channel (JSON). The primary holds what must be one across workers (the
// validated config's bytes, the failed-login limit, the v3 token secret and
// token uses, the TLS ticket keys) and asks the workers for what only they
// know (their clients, open watches and metrics).
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import type { FileSnapshot } from '../../config/files.js';
import type { LimitDecision } from '../auth/failure-limiter.js';
import type { ClientsReport } from '../clients.js';

/** A config as validated by the primary: the file's path and the bytes of every file it read. */
export interface ConfigOnTheWire {
  readonly file: string;
  /** [path, base64 bytes] */
  readonly files: readonly (readonly [string, string])[];
}

/** A v3 token's nonce and its last use (ms since the epoch). */
export type TokenUse = readonly [string, number];

export interface WorkerStart {
  readonly kind: 'start';
  readonly config: ConfigOnTheWire;
  /** base64: the HMAC key of v3 tokens, the TLS session ticket keys. */
  readonly tokenSecret: string;
  readonly ticketKeys: string;
  /** Tokens live now, so a worker started later accepts them too. */
  readonly tokenUses: readonly TokenUse[];
}

export type Question = 'clients' | 'open-watches' | 'metrics';

export interface Answers {
  readonly clients: ClientsReport;
  readonly 'open-watches': number;
  readonly metrics: MetricObjectWithValues<MetricValue<string>>[];
}

export type ToWorker =
  | WorkerStart
  | { readonly kind: 'reload'; readonly id: number; readonly config: ConfigOnTheWire }
  | { readonly kind: 'ask'; readonly id: number; readonly question: Question }
  | { readonly kind: 'limit'; readonly id: number; readonly decision: LimitDecision }
  | { readonly kind: 'token-uses'; readonly uses: readonly TokenUse[] }
  | { readonly kind: 'stop' };

export type FromWorker =
  /** Its listener is on: the primary may send `start` (a message sent before would be lost). */
  | { readonly kind: 'ready' }
  | { readonly kind: 'listening'; readonly url: string }
  | { readonly kind: 'reloaded'; readonly id: number; readonly atNextRestart: readonly string[] }
  | { readonly kind: 'reload-failed'; readonly id: number; readonly error: string }
  | { readonly kind: 'answer'; readonly id: number; readonly value: Answers[Question] }
  | { readonly kind: 'limit-check'; readonly id: number; readonly address: string; readonly user: string }
  | { readonly kind: 'limit-failure'; readonly address: string; readonly user: string }
  | { readonly kind: 'limit-success'; readonly address: string; readonly user: string }
  | { readonly kind: 'token-uses'; readonly uses: readonly TokenUse[] };

export function configOnTheWire(file: string, snapshot: FileSnapshot): ConfigOnTheWire {
  return { file, files: [...snapshot].map(([path, bytes]) => [path, bytes.toString('base64')] as const) };
}

export function snapshotFromWire(config: ConfigOnTheWire): FileSnapshot {
  return new Map(config.files.map(([path, base64]) => [path, Buffer.from(base64, 'base64')]));
}

/** Our own processes send these; anything else on the channel (prom-client's, Node's) is not ours. */
export function isMessage<T extends { readonly kind: string }>(value: unknown): value is T {
  return typeof value === 'object' && value !== null && typeof (value as { kind?: unknown }).kind === 'string';
}
