// Runs verifyPassword off the main thread: a bcryptjs check at cost 10 holds
// its thread for ~71 ms, which on the main thread would stall every proxied
// watch and request for that long (research notes §6.1).
import { parentPort } from 'node:worker_threads';
import { verifyPassword } from './password-hash.js';
import type { VerifyJobMessage, VerifyResultMessage } from './verifier-protocol.js';

if (parentPort === null) {
  throw new Error('verifier-worker.js must be started as a worker thread');
}
const port = parentPort;

port.on('message', (job: VerifyJobMessage) => {
  let result: VerifyResultMessage;
  try {
    result = { id: job.id, ok: true, verified: verifyPassword(job, job.password) };
  } catch (error) {
    result = { id: job.id, ok: false, error: error instanceof Error ? error.message : String(error) };
  }
  port.postMessage(result);
});
