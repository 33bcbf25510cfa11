// How a mirror ends: stopped by a signal (0), a fatal error (1), or a stop
// that needs a human (a replica written behind the mirror's back, an action
// it does not know). The last kind keeps the process and its status port
// up in state `stopped` (process.ts), so the stop can be scraped and read
// (`/status`, `mirror-status`) instead of the unit disappearing.
import { StrictReplicationError, UnknownActionError } from './apply.js';

/** Why replication stopped and waits for a human: what its error log line says, scrapeable. */
export interface MirrorStop {
  readonly reason: string;
  /** ISO 8601. */
  readonly at: string;
  /** The destination key, what the source held there before the event, and what the replica holds. */
  readonly key?: string;
  readonly source?: string;
  readonly replica?: string;
  /** The event's source index (v2) or revision (v3), and its action. */
  readonly index?: number;
  readonly action?: string;
}

export interface MirrorExit {
  readonly code: 0 | 1;
  readonly reason: string;
  /** Set for a stop that needs a human: the process stays up, stopped, until restarted. */
  readonly stop?: MirrorStop;
}

/** The stop an error means, when it is one that needs a human rather than a restart. */
export function humanStop(error: unknown, now = new Date()): MirrorStop | undefined {
  const at = now.toISOString();
  if (error instanceof StrictReplicationError) {
    return { reason: error.message, at, key: error.key, source: error.expected, replica: error.actual, index: error.index, action: error.action };
  }
  if (error instanceof UnknownActionError) return { reason: error.message, at, key: error.key, index: error.index, action: error.action };
  return undefined;
}

/** The exit a caught error means. */
export function exitFor(error: unknown): MirrorExit {
  const reason = error instanceof Error ? error.message : String(error);
  const stop = humanStop(error);
  return { code: 1, reason, ...(stop === undefined ? {} : { stop }) };
}
