// Turns the proxy bench's measurements into the printed report: the
// throughput table, the GET rounds' spread with CPU per request, the mixed
// runs, watches, memory, and the targets with a verdict next to the figures
// they were judged on.
import { loadRows, proxiedServers, serverTitles, wardenNames, type MixedRun, type ServerName, type SideLoad } from './load-scenarios.js';
import type { TreeRss } from './proc-tree.js';
import { addedRssBytes, hasErrors, summarizeGet, type ProxyBenchResults, type Spread } from './proxy-figures.js';
import { anyTargetMissed, largeWatchTargets, targets, type TargetLine } from './proxy-targets.js';
import type { WatchRow } from './proxy-watches.js';
import { formatMiB, formatMs, formatRate, renderTable } from './table.js';
import type { WrkResult } from './wrk.js';
import { describeStatuses } from './wrong-password-flood.js';

export { anyTargetMissed };
export type { GetRun, MixedSet, ProxyBenchResults } from './proxy-figures.js';

const columns: readonly ServerName[] = ['etcd', 'nginx', ...wardenNames];

function cells(result: WrkResult | undefined): string[] {
  if (result === undefined) return ['-', '-', '-'];
  if (result.requests === 0) return ['0', 'none done', '-'];
  return [formatRate(result.requestsPerSecond) + (hasErrors(result) ? '!' : ''), formatMs(result.p50Ms), formatMs(result.p99Ms)];
}

function rowResult(results: ProxyBenchResults, id: string, server: ServerName): WrkResult | undefined {
  return id === 'get' ? summarizeGet(results.getRuns[server])?.medianRun : results.throughput[id as keyof ProxyBenchResults['throughput']]?.[server];
}

function errorNotes(results: ProxyBenchResults): string[] {
  const notes: string[] = [];
  for (const server of columns) {
    for (const [round, run] of (results.getRuns[server] ?? []).entries()) {
      if (hasErrors(run.wrk)) notes.push(`! ${serverTitles[server]} anonymous GET round ${round + 1}: ${run.wrk.errorResponses} non-2xx responses, ${run.wrk.socketErrors} socket errors`);
    }
  }
  for (const row of loadRows.filter((r) => r.put)) {
    for (const [server, result] of Object.entries(results.throughput[row.id] ?? {})) {
      if (hasErrors(result)) notes.push(`! ${serverTitles[server as ServerName]} ${row.label}: ${result.errorResponses} non-2xx responses, ${result.socketErrors} socket errors`);
    }
  }
  return notes;
}

function throughputTable(results: ProxyBenchResults): string {
  const rows = loadRows.map((row) => {
    const nginx = rowResult(results, row.id, 'nginx');
    const ratios = wardenNames.map((warden) => {
      const ours = rowResult(results, row.id, warden);
      return nginx === undefined || ours === undefined || nginx.requestsPerSecond === 0 ? '-' : `${(ours.requestsPerSecond / nginx.requestsPerSecond).toFixed(2)}×`;
    });
    return [row.id === 'get' ? `${row.label} (median round)` : row.label, ...columns.flatMap((server) => cells(rowResult(results, row.id, server))), ...ratios];
  });
  return renderTable({
    groups: [['', 1], ...columns.map((server): [string, number] => [serverTitles[server], 3]), ['req/s vs nginx', 2]],
    header: ['load', ...columns.flatMap(() => ['req/s', 'p50', 'p99']), '×1', '×2'],
    rows,
  });
}

function spreadText(value: Spread | undefined, format: (n: number) => string): string[] {
  return value === undefined ? ['-', '-', '-'] : [format(value.min), format(value.median), format(value.max)];
}

function getRoundsTable(results: ProxyBenchResults): string {
  const rows = columns.flatMap((server) => {
    const summary = summarizeGet(results.getRuns[server]);
    if (summary === undefined) return [];
    const perRound = (results.getRuns[server] ?? []).map((run) => formatRate(run.wrk.requestsPerSecond)).join(', ');
    return [[serverTitles[server], ...spreadText(summary.rate, formatRate), ...spreadText(summary.cpuUs, (n) => n.toFixed(0)), perRound]];
  });
  return renderTable({
    groups: [['', 1], ['GET req/s', 3], ['proxy CPU per GET, µs', 3], ['', 1]],
    header: ['anonymous GET, by round', 'min', 'median', 'max', 'min', 'median', 'max', 'req/s per round'],
    rows,
    left: [7],
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
  for (const server of proxiedServers) {
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

function watchTable(rows: readonly [string, WatchRow | undefined][]): string {
  const notes: string[] = [];
  const body = rows.map(([label, row]) => {
    if (row === undefined || 'skipped' in row) {
      notes.push(`${label}: not run: ${row === undefined ? 'not measured' : row.skipped}`);
      return [label, '-', '-', '-', '-', '-', '-', '-', '-', '-'];
    }
    const fanOut = row.fanOutMs === undefined || row.delivered < row.watches ? `> ${(row.waitMs / 1000).toFixed(0)} s` : formatMs(row.fanOutMs);
    return [
      label, row.watches.toLocaleString('en-US'), `${row.openSeconds.toFixed(1)} s`, `${row.openCpuSeconds.toFixed(2)} s`,
      formatMiB(row.rssBeforeBytes), formatMiB(row.rssAfterBytes), formatMiB(addedRssBytes(row)), (addedRssBytes(row) / row.watches / 1024).toFixed(1),
      fanOut, `${row.delivered}/${row.watches}`,
    ];
  });
  return renderTable({
    header: ['watches (fresh server each)', 'watches', 'open took', 'open CPU', 'RSS before', 'RSS after', 'added', 'KiB/watch', 'fan-out', 'delivered'],
    rows: body,
  }) + notes.map((note) => `\n${note}`).join('');
}

function processesText(rss: TreeRss | undefined): string {
  return rss === undefined ? '-' : rss.processes.map((p) => `${p.comm} ${formatMiB(p.bytes)}`).join(', ');
}

function memoryTable(results: ProxyBenchResults): string {
  const rows = proxiedServers.flatMap((server) => {
    const idle = results.idleRss[server];
    const after = results.finalRss[server];
    if (idle === undefined && after === undefined) return [];
    return [
      [serverTitles[server], 'idle, 3 s after start', idle === undefined ? '-' : formatMiB(idle.totalBytes), processesText(idle)],
      ['', 'after the whole bench', after === undefined ? '-' : formatMiB(after.totalBytes), processesText(after)],
    ];
  });
  return renderTable({ header: ['RSS (VmRSS, process tree)', 'when', 'tree', 'per process (root first)'], rows, left: [1, 3] });
}

function targetTable(lines: readonly TargetLine[]): string {
  return renderTable({ header: ['target (issue 13; issue 2 where marked)', 'measured', 'verdict'], rows: lines.map((line) => [line.target, line.measured, line.verdict]), left: [1, 2] });
}

export function renderProxyReport(results: ProxyBenchResults, profile?: string): string {
  const watchRows: [string, WatchRow | undefined][] = [
    ...proxiedServers.map((server): [string, WatchRow | undefined] => [serverTitles[server], results.watches[server]]),
    ...(['nginx', 'warden2'] as const).map((server): [string, WatchRow | undefined] => [`${serverTitles[server]}, large row`, results.largeWatches[server]]),
  ];
  const sections = [
    results.heading,
    '',
    throughputTable(results),
    ...errorNotes(results),
    `anonymous GET: the round with the median req/s of ${results.rounds} (the lower middle one when even); PUT rows: each measured twice for half the time in ABBA order (open, bcrypt, apr1, sha512, then back), averaged.`,
    'etcd direct has no auth: its PUT rows are one run of writes to the same key without credentials.',
    ...(results.nginxMissing === undefined ? [] : [`nginx: ${results.nginxMissing}`]),
    '',
    getRoundsTable(results),
    `rounds interleaved (etcd, nginx, ×1, ×2, then again); CPU per GET = the process tree's utime+stime over the wrk run / requests wrk completed.`,
    '',
    mixedTable(results),
    '"alone": half before and half after the side loads, averaged. Wrong passwords: a new one per request, each loopback source',
    'address used for 8 (under the 10-failure limit), so every request costs a full bcrypt check: a spray from many hosts.',
    '',
    watchTable(watchRows),
    'RSS: sum over the process tree, warm and idle before, 2 s after the last watch opened; open CPU: the tree while opening (and those 2 s).',
    'Fan-out: from the write to etcd to the last watcher holding the event. Clients: child processes of the bench, one per 5,000 watches (at most 4),',
    'on the same 2 cores as the proxy; "open took" includes starting them.',
    '',
    memoryTable(results),
    '',
    targetTable(targets(results)),
  ];
  if (profile !== undefined) sections.push('', profile);
  return sections.join('\n');
}

/** `--only proxy-watches`: the large watch row alone, for a run that wants only it. */
export function renderLargeWatchReport(heading: string, rows: ProxyBenchResults['largeWatches']): string {
  return [
    heading,
    '',
    watchTable((['nginx', 'warden2'] as const).map((server) => [`${serverTitles[server]}, large row`, rows[server]])),
    '',
    targetTable(largeWatchTargets(rows)),
  ].join('\n');
}
