// Runs verifyPassword off the main thread: a bcryptjs check at cost 10 holds
// its thread for ~71 ms, which on the main thread would stall every proxied
// watch and request for that long (research notes §6.1).
import { setPriority } from 'node:os';
import { parentPort } from 'node:worker_threads';
import { verifyPassword } from './password-hash.js';
import type { VerifyJobMessage, VerifyResultMessage } from './verifier-protocol.js';

if (parentPort === null) {
  throw new Error('verifier-worker.js must be started as a worker thread');
}
const port = parentPort;

// Password checks must not take CPU from the event loop that carries reads
// and watches: under a flood of first-time or wrong passwords the bench saw
// GET p99 double with two workers at normal priority on 2 cores. On Linux,
// setpriority on pid 0 lowers only the calling thread, this worker.
try {
  setPriority(19);
} catch {
  // not permitted here: the worker runs at normal priority
}

port.on('message', (job: VerifyJobMessage) => {
  let result: VerifyResultMessage;
  try {
    result = { id: job.id, ok: true, verified: verifyPassword(job, job.password) };
  } catch (error) {
    result = { id: job.id, ok: false, error: error instanceof Error ? error.message : String(error) };
  }
  port.postMessage(result);
});
