// Load comes from wrk in its own process, so the proxy under test and the
// load generator never share an event loop. Its text report is parsed for
// the figures the table shows; errors (non-2xx, socket errors) are kept so a
// fast stream of 401s can never pass for throughput.
import { fileURLToPath } from 'node:url';
import { runCommand } from './processes.js';

// dist/test/bench/lib/wrk.js → test/bench/wrk/put.lua (Lua scripts are not compiled)
export const putScript = fileURLToPath(new URL('../../../../test/bench/wrk/put.lua', import.meta.url));

export interface WrkLoad {
  readonly url: string;
  readonly threads: number;
  readonly connections: number;
  readonly seconds: number;
  /** A Lua script (PUT); plain GET without one. */
  readonly script?: string;
  /** Whole Authorization header value for the PUT script. */
  readonly authorization?: string;
}

export interface WrkResult {
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly requests: number;
  /** Responses outside 2xx/3xx. */
  readonly errorResponses: number;
  /** connect + read + write + timeout. */
  readonly socketErrors: number;
  readonly report: string;
}

export async function runWrk(load: WrkLoad): Promise<WrkResult> {
  const args = [
    `-t${load.threads}`, `-c${load.connections}`, `-d${load.seconds}s`, '--latency',
    // wrk's 2 s default would drop nginx's slowest bcrypt writes out of the latency figures.
    '--timeout', '10s',
    ...(load.script === undefined ? [] : ['-s', load.script]),
    load.url,
  ];
  const env = { ...process.env, BENCH_AUTHORIZATION: load.authorization ?? '' };
  const report = await runCommand('wrk', args, { env, timeoutMs: (load.seconds + 30) * 1000 });
  return parseWrkReport(report);
}

const unitMs: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

function durationMs(text: string | undefined, report: string): number {
  const match = /^([\d.]+)(us|ms|s|m|h)$/.exec(text ?? '');
  const factor = match?.[2] === undefined ? undefined : unitMs[match[2]];
  if (match?.[1] === undefined || factor === undefined) throw new Error(`cannot read a duration "${text}" in the wrk report:\n${report}`);
  return Number(match[1]) * factor;
}

export function parseWrkReport(report: string): WrkResult {
  const percentile = (p: string): number => durationMs(new RegExp(`^\\s+${p}%\\s+(\\S+)`, 'm').exec(report)?.[1], report);
  const rate = /^Requests\/sec:\s+([\d.]+)/m.exec(report)?.[1];
  const total = /^\s+(\d+) requests in/m.exec(report)?.[1];
  if (rate === undefined || total === undefined) throw new Error(`cannot read the wrk report:\n${report}`);
  const errorResponses = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(report)?.[1] ?? 0);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(report);
  const socketErrors = socket === null ? 0 : socket.slice(1).reduce((sum, n) => sum + Number(n), 0);
  return {
    requestsPerSecond: Number(rate),
    p50Ms: percentile('50'),
    p99Ms: percentile('99'),
    requests: Number(total),
    errorResponses,
    socketErrors,
    report,
  };
}

/**
 * Several equal-length runs of one load as one figure: requests/s and the
 * percentiles averaged, errors summed. Used for ABBA orderings, where a load
 * measured early and late cancels the drift of a warming machine.
 */
export function combineRuns(runs: readonly WrkResult[]): WrkResult {
  const mean = (pick: (run: WrkResult) => number): number => runs.reduce((sum, run) => sum + pick(run), 0) / runs.length;
  const sum = (pick: (run: WrkResult) => number): number => runs.reduce((total, run) => total + pick(run), 0);
  if (runs.length === 0) throw new Error('combineRuns needs at least one run');
  return {
    requestsPerSecond: mean((run) => run.requestsPerSecond),
    p50Ms: mean((run) => run.p50Ms),
    p99Ms: mean((run) => run.p99Ms),
    requests: sum((run) => run.requests),
    errorResponses: sum((run) => run.errorResponses),
    socketErrors: sum((run) => run.socketErrors),
    report: runs.map((run) => run.report).join('\n'),
  };
}
