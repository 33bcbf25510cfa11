// Messages between the verifier pool (main thread) and its workers.
import type { HashScheme } from '../../config/htpasswd.js';

export interface VerifyJobMessage {
  readonly id: number;
  readonly hash: string;
  readonly scheme: HashScheme;
  readonly password: string;
}

export type VerifyResultMessage =
  | { readonly id: number; readonly ok: true; readonly verified: boolean }
  | { readonly id: number; readonly ok: false; readonly error: string };
