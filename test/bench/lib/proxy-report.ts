// Turns the proxy bench's measurements into the printed report: the
// throughput table, the mixed runs, memory and fan-out, and the issue's
// targets with PASS/MISS next to the figures they were judged on.
import type { FanOutResult } from './watch-fanout.js';
import { loadRows, serverTitles, type MixedRun, type RowId, type ServerName, type SideLoad } from './load-scenarios.js';
import { formatMiB, formatMs, formatRate, renderTable } from './table.js';
import type { WrkResult } from './wrk.js';
import { describeStatuses } from './wrong-password-flood.js';

export type ProxiedServer = Exclude<ServerName, 'etcd'>;

export interface MixedSet {
  readonly alone: MixedRun;
  readonly authPuts: MixedRun;
  readonly wrongPasswords: MixedRun;
}

export interface ProxyBenchResults {
  readonly heading: string;
  readonly throughput: Partial<Record<RowId, Partial<Record<ServerName, WrkResult>>>>;
  readonly mixed: Partial<Record<ProxiedServer, MixedSet>>;
  readonly fanOut: FanOutResult | { readonly skipped: string };
  readonly nginxMissing?: string;
}

type Verdict = 'PASS' | 'MISS' | 'n/a';

interface TargetLine {
  readonly target: string;
  readonly measured: string;
  readonly verdict: Verdict;
}

const mib = 1024 * 1024;

function hasErrors(result: WrkResult | undefined): boolean {
  return result !== undefined && result.errorResponses + result.socketErrors > 0;
}

function cells(result: WrkResult | undefined): string[] {
  if (result === undefined) return ['-', '-', '-'];
  if (result.requests === 0) return ['0', 'none done', '-'];
  return [formatRate(result.requestsPerSecond) + (hasErrors(result) ? '!' : ''), formatMs(result.p50Ms), formatMs(result.p99Ms)];
}

function errorNotes(results: ProxyBenchResults): string[] {
  const notes: string[] = [];
  for (const row of loadRows) {
    for (const [server, result] of Object.entries(results.throughput[row.id] ?? {})) {
      if (hasErrors(result)) notes.push(`! ${serverTitles[server as ServerName]} ${row.label}: ${result.errorResponses} non-2xx responses, ${result.socketErrors} socket errors`);
    }
  }
  return notes;
}

function throughputTable(results: ProxyBenchResults): string {
  const rows = loadRows.map((row) => {
    const byServer = results.throughput[row.id] ?? {};
    const nginx = byServer.nginx;
    const warden = byServer.warden;
    const ratio = nginx === undefined || warden === undefined || nginx.requestsPerSecond === 0 ? '-' : `${(warden.requestsPerSecond / nginx.requestsPerSecond).toFixed(2)}×`;
    const p99Delta = nginx === undefined || warden === undefined ? '-' : `${warden.p99Ms >= nginx.p99Ms ? '+' : '-'}${formatMs(Math.abs(warden.p99Ms - nginx.p99Ms))}`;
    return [row.label, ...cells(byServer.etcd), ...cells(nginx), ...cells(warden), ratio, p99Delta];
  });
  return renderTable({
    groups: [['', 1], [serverTitles.etcd, 3], [serverTitles.nginx, 3], [serverTitles.warden, 3], ['warden/nginx', 2]],
    header: ['load', 'req/s', 'p50', 'p99', 'req/s', 'p50', 'p99', 'req/s', 'p50', 'p99', 'req/s', 'p99 Δ'],
    rows,
  });
}

function sideLoadText(side: SideLoad): string {
  switch (side.kind) {
    case 'none':
      return '-';
    case 'auth-puts':
      return `${formatRate(side.result.requestsPerSecond)} PUT/s, ${side.result.errorResponses} non-2xx`;
    case 'wrong-passwords':
      return `${formatRate(side.result.perSecond)} PUT/s: ${describeStatuses(side.result.report.statuses)}`;
  }
}

function mixedTable(results: ProxyBenchResults): string {
  const rows: string[][] = [];
  for (const server of ['nginx', 'warden'] as const) {
    const set = results.mixed[server];
    if (set === undefined) continue;
    const runs: [string, MixedRun][] = [
      ['GET alone', set.alone],
      ['GET + 2 conns auth PUT (bcrypt user)', set.authPuts],
      ['GET + 2 conns wrong-password flood', set.wrongPasswords],
    ];
    for (const [label, run] of runs) {
      const vsAlone = run === set.alone ? '1.00×' : `${(run.get.p99Ms / set.alone.get.p99Ms).toFixed(2)}×`;
      rows.push([`${serverTitles[server]}: ${label}`, ...cells(run.get), vsAlone, sideLoadText(run.side)]);
    }
  }
  return renderTable({ header: ['mixed run', 'GET req/s', 'p50', 'p99', 'p99/alone', 'side load (2 connections)'], rows, left: [5] });
}

function verdict(ok: boolean, ...inputs: (WrkResult | undefined)[]): Verdict {
  if (inputs.some((input) => input === undefined)) return 'n/a';
  // A run with errors proves nothing either way; it cannot pass.
  return ok && !inputs.some(hasErrors) ? 'PASS' : 'MISS';
}

function targets(results: ProxyBenchResults): TargetLine[] {
  const lines: TargetLine[] = [];
  const get = results.throughput.get ?? {};
  if (get.nginx === undefined || get.warden === undefined) {
    lines.push({ target: 'GET req/s ≥ 0.8 × nginx; p99 ≤ nginx + 2 ms', measured: results.nginxMissing ?? 'not measured', verdict: 'n/a' });
  } else {
    const ratio = get.warden.requestsPerSecond / get.nginx.requestsPerSecond;
    lines.push({
      target: 'anonymous GET req/s ≥ 0.8 × nginx',
      measured: `${ratio.toFixed(2)}× (${formatRate(get.warden.requestsPerSecond)} vs ${formatRate(get.nginx.requestsPerSecond)})`,
      verdict: verdict(ratio >= 0.8, get.warden, get.nginx),
    });
    lines.push({
      target: 'anonymous GET p99 ≤ nginx p99 + 2 ms',
      measured: `${formatMs(get.warden.p99Ms)} vs ${formatMs(get.nginx.p99Ms)} + 2 ms`,
      verdict: verdict(get.warden.p99Ms <= get.nginx.p99Ms + 2, get.warden, get.nginx),
    });
  }
  const open = results.throughput['put-open']?.warden;
  for (const row of loadRows.filter((r) => r.format !== undefined)) {
    const auth = results.throughput[row.id]?.warden;
    const ratio = auth === undefined || open === undefined ? NaN : auth.requestsPerSecond / open.requestsPerSecond;
    lines.push({
      target: `${row.label} ≥ 0.8 × open-prefix PUT (warden)`,
      measured: Number.isNaN(ratio) ? '-' : `${ratio.toFixed(2)}× (${formatRate(auth?.requestsPerSecond ?? 0)} vs ${formatRate(open?.requestsPerSecond ?? 0)})`,
      verdict: verdict(ratio >= 0.8, auth, open),
    });
  }
  const mixed = results.mixed.warden;
  for (const [label, run] of [['auth PUTs', mixed?.authPuts], ['wrong-password flood', mixed?.wrongPasswords]] as const) {
    const alone = mixed?.alone.get;
    const during = run?.get;
    lines.push({
      target: `warden GET p99 during ${label} ≤ 2 × alone`,
      measured: alone === undefined || during === undefined ? '-' : `${formatMs(during.p99Ms)} vs 2 × ${formatMs(alone.p99Ms)} (${(during.p99Ms / alone.p99Ms).toFixed(2)}×)`,
      verdict: alone === undefined || during === undefined ? 'n/a' : verdict(during.p99Ms <= 2 * alone.p99Ms, alone, during),
    });
  }
  const fan = results.fanOut;
  if ('skipped' in fan) {
    lines.push({ target: '2,000 watches: RSS delta ≤ 100 MiB; fan-out ≤ 1 s', measured: fan.skipped, verdict: 'n/a' });
  } else {
    const delta = fan.rssAfterBytes - fan.rssBeforeBytes;
    lines.push({
      target: `${fan.watches.toLocaleString('en-US')} open watches add ≤ 100 MiB proxy RSS`,
      measured: `${formatMiB(delta)} (${formatMiB(fan.rssBeforeBytes)} → ${formatMiB(fan.rssAfterBytes)}, ${((delta / fan.watches) / 1024).toFixed(1)} KiB/watch)`,
      verdict: delta <= 100 * mib ? 'PASS' : 'MISS',
    });
    lines.push({
      target: `one write reaches all ${fan.watches.toLocaleString('en-US')} watchers ≤ 1 s`,
      measured: fan.fanOutMs === undefined ? `only ${fan.delivered} of ${fan.watches} got it within 10 s` : `${formatMs(fan.fanOutMs)} (${fan.delivered}/${fan.watches} delivered)`,
      verdict: fan.fanOutMs !== undefined && fan.delivered === fan.watches && fan.fanOutMs <= 1000 ? 'PASS' : 'MISS',
    });
  }
  return lines;
}

export function anyTargetMissed(results: ProxyBenchResults): boolean {
  return targets(results).some((line) => line.verdict === 'MISS');
}

export function renderProxyReport(results: ProxyBenchResults, profile?: string): string {
  const fan = results.fanOut;
  const sections = [
    results.heading,
    '',
    throughputTable(results),
    ...errorNotes(results),
    'PUT rows: each measured twice for half the time in ABBA order (open, bcrypt, apr1, sha512, then back), figures averaged.',
    'etcd direct has no auth: its PUT rows are one run of writes to the same key without credentials.',
    ...(results.nginxMissing === undefined ? [] : [`nginx: ${results.nginxMissing}`]),
    '',
    mixedTable(results),
    '"alone": half before and half after the side loads, averaged. Wrong passwords: a new one per request, each loopback source',
    'address used for 8 (under the 10-failure limit), so every request costs a full bcrypt check: a spray from many hosts.',
    '',
    'skipped' in fan
      ? `watches: skipped: ${fan.skipped}`
      : `watches: ${fan.watches.toLocaleString('en-US')} opened in ${fan.openSeconds.toFixed(1)} s; proxy RSS ${formatMiB(fan.rssBeforeBytes)} → ${formatMiB(fan.rssAfterBytes)}` +
        `; one write delivered to ${fan.delivered}/${fan.watches} in ${fan.fanOutMs === undefined ? '> 10 s' : formatMs(fan.fanOutMs)}`,
    '',
    renderTable({ header: ['target (issue 2)', 'measured', 'verdict'], rows: targets(results).map((line) => [line.target, line.measured, line.verdict]), left: [1, 2] }),
  ];
  if (profile !== undefined) sections.push('', profile);
  return sections.join('\n');
}
