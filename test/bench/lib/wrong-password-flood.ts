// Runs wrong-password-client.js in its own process (like wrk, it must not
// share the bench's event loop) and returns what it saw.
import { fileURLToPath } from 'node:url';
import { runCommand } from './processes.js';
import type { FloodPlan, FloodReport } from './wrong-password-client.js';

const clientPath = fileURLToPath(new URL('./wrong-password-client.js', import.meta.url));

export interface FloodRun {
  readonly report: FloodReport;
  readonly perSecond: number;
}

export async function startWrongPasswordFlood(plan: FloodPlan): Promise<FloodRun> {
  const output = await runCommand(process.execPath, [clientPath, JSON.stringify(plan)], { timeoutMs: (plan.seconds + 60) * 1000 });
  const report = JSON.parse(output.trim()) as FloodReport;
  return { report, perSecond: report.requests / plan.seconds };
}

/** "401×120 429×3" */
export function describeStatuses(statuses: Record<string, number>): string {
  return Object.entries(statuses).sort(([a], [b]) => a.localeCompare(b)).map(([status, n]) => `${status}×${n}`).join(' ');
}
