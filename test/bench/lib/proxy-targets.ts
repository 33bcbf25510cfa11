// Issue 13's targets (and issue 2's that still stand), each judged on the
// figures printed next to it: "met", or "missed by" the amount, so a closing
// note can quote the line as it is.
import { loadRows, serverTitles, wardenNames, type WardenName } from './load-scenarios.js';
import { addedRssBytes, hasErrors, measuredWatches, summarizeGet, type ProxyBenchResults } from './proxy-figures.js';
import type { WatchRow } from './proxy-watches.js';
import { formatMiB, formatMs, formatRate } from './table.js';

export interface TargetLine {
  readonly target: string;
  readonly measured: string;
  readonly verdict: string;
}

const mib = 1024 * 1024;
const notMeasured = 'n/a';

/** `value` must be ≥ `least`; the shortfall is said in the value's own format. */
function atLeast(value: number, least: number, format: (n: number) => string, errors = false): string {
  if (!Number.isFinite(value)) return notMeasured;
  if (errors) return 'missed (errors in the run)';
  return value >= least ? 'met' : `missed by ${format(least - value)}`;
}

/** `value` must be ≤ `most` (or < it when `strict`). */
function atMost(value: number, most: number, format: (n: number) => string, options: { errors?: boolean; strict?: boolean } = {}): string {
  if (!Number.isFinite(value)) return notMeasured;
  if (options.errors === true) return 'missed (errors in the run)';
  const ok = options.strict === true ? value < most : value <= most;
  return ok ? 'met' : `missed by ${format(value - most)}`;
}

const times = (n: number): string => `${n.toFixed(2)}×`;
const micros = (n: number): string => `${n.toFixed(0)} µs`;
const mibText = (bytes: number): string => formatMiB(bytes);
const seconds = (n: number): string => `${n.toFixed(2)} s`;

function getTargets(results: ProxyBenchResults, warden: WardenName): TargetLine[] {
  const title = serverTitles[warden];
  const ours = summarizeGet(results.getRuns[warden]);
  const nginx = summarizeGet(results.getRuns.nginx);
  const why = results.nginxMissing ?? 'not measured';
  if (ours === undefined || nginx === undefined) {
    return [
      { target: `${title}: CPU per GET ≤ 0.8 × nginx's (medians)`, measured: why, verdict: notMeasured },
      { target: `${title}: GET req/s ≥ 1.5 × nginx's (medians)`, measured: why, verdict: notMeasured },
    ];
  }
  const errors = ours.errors || nginx.errors;
  const cpuLimit = 0.8 * (nginx.cpuUs?.median ?? NaN);
  const cpu = ours.cpuUs?.median ?? NaN;
  const rateRatio = ours.rate.median / nginx.rate.median;
  return [
    {
      target: `${title}: CPU per GET ≤ 0.8 × nginx's (medians)`,
      measured: `${micros(cpu)} vs 0.8 × ${micros(nginx.cpuUs?.median ?? NaN)} = ${micros(cpuLimit)} (${times(cpu / (nginx.cpuUs?.median ?? NaN))} nginx's)`,
      verdict: atMost(cpu, cpuLimit, micros, { errors }),
    },
    {
      target: `${title}: GET req/s ≥ 1.5 × nginx's (medians)`,
      measured: `${times(rateRatio)} (${formatRate(ours.rate.median)} vs ${formatRate(nginx.rate.median)})`,
      verdict: atLeast(rateRatio, 1.5, times, errors),
    },
  ];
}

function putTargets(results: ProxyBenchResults, warden: WardenName): TargetLine[] {
  const nginxApr1 = results.throughput['put-apr1']?.nginx;
  return (['put-apr1', 'put-bcrypt'] as const).map((id) => {
    const ours = results.throughput[id]?.[warden];
    const label = loadRows.find((row) => row.id === id)?.label ?? id;
    const ratio = ours === undefined || nginxApr1 === undefined ? NaN : ours.requestsPerSecond / nginxApr1.requestsPerSecond;
    return {
      target: `${serverTitles[warden]}: ${label} ≥ 1.5 × nginx apr1`,
      measured: Number.isNaN(ratio) ? (results.nginxMissing ?? '-') : `${times(ratio)} (${formatRate(ours?.requestsPerSecond ?? 0)} vs ${formatRate(nginxApr1?.requestsPerSecond ?? 0)})`,
      verdict: atLeast(ratio, 1.5, times, hasErrors(ours) || hasErrors(nginxApr1)),
    };
  });
}

/** Issue 2's own-floor target: an auth check costs at most a fifth of the open-prefix write rate. */
function authVsOpenTargets(results: ProxyBenchResults, warden: WardenName): TargetLine[] {
  const open = results.throughput['put-open']?.[warden];
  return loadRows.filter((row) => row.format !== undefined).map((row) => {
    const auth = results.throughput[row.id]?.[warden];
    const ratio = auth === undefined || open === undefined ? NaN : auth.requestsPerSecond / open.requestsPerSecond;
    return {
      target: `${serverTitles[warden]}: ${row.label} ≥ 0.8 × its open-prefix PUT (issue 2)`,
      measured: Number.isNaN(ratio) ? '-' : `${times(ratio)} (${formatRate(auth?.requestsPerSecond ?? 0)} vs ${formatRate(open?.requestsPerSecond ?? 0)})`,
      verdict: atLeast(ratio, 0.8, times, hasErrors(auth) || hasErrors(open)),
    };
  });
}

function mixedTargets(results: ProxyBenchResults, warden: WardenName): TargetLine[] {
  const set = results.mixed[warden];
  return ([['bcrypt PUTs', set?.authPuts], ['wrong-password flood', set?.wrongPasswords]] as const).map(([label, run]) => {
    const alone = set?.alone.get;
    const during = run?.get;
    const ratio = alone === undefined || during === undefined ? NaN : during.p99Ms / alone.p99Ms;
    return {
      target: `${serverTitles[warden]}: GET p99 during ${label} ≤ 1.2 × alone`,
      measured: Number.isNaN(ratio) ? '-' : `${formatMs(during?.p99Ms ?? 0)} vs ${formatMs(alone?.p99Ms ?? 0)} (${times(ratio)})`,
      verdict: atMost(ratio, 1.2, times, { errors: hasErrors(alone) || hasErrors(during) }),
    };
  });
}

function fanOutText(row: WatchRow | undefined): string {
  if (row === undefined) return 'not measured';
  if ('skipped' in row) return row.skipped;
  return row.fanOutMs === undefined || row.delivered < row.watches ? `${row.delivered}/${row.watches} delivered within ${seconds(row.waitMs / 1000)}` : formatMs(row.fanOutMs);
}

function watchTargets(results: ProxyBenchResults, warden: WardenName): TargetLine[] {
  const title = serverTitles[warden];
  const ours = measuredWatches(results.watches[warden]);
  const nginx = measuredWatches(results.watches.nginx);
  const count = (ours ?? nginx)?.watches.toLocaleString('en-US') ?? 'N';
  const why = (row: WatchRow | undefined): string => (row !== undefined && 'skipped' in row ? row.skipped : 'not measured');
  if (ours === undefined || nginx === undefined) {
    const measured = ours === undefined ? `${title}: ${why(results.watches[warden])}` : `nginx: ${why(results.watches.nginx)}`;
    return [`${count} watches: RSS added ≤ nginx's`, 'one write reaches all no slower than nginx', "opening them costs < nginx's CPU"].map((target) => ({ target: `${title}: ${target}`, measured, verdict: notMeasured }));
  }
  const allDelivered = (fan: typeof ours): number => (fan.fanOutMs !== undefined && fan.delivered === fan.watches ? fan.fanOutMs : Infinity);
  return [
    {
      target: `${title}: ${count} watches add ≤ nginx's RSS (tree)`,
      measured: `${mibText(addedRssBytes(ours))} vs ${mibText(addedRssBytes(nginx))}`,
      verdict: atMost(addedRssBytes(ours), addedRssBytes(nginx), mibText),
    },
    {
      target: `${title}: one write reaches all ${count} ≤ nginx's time`,
      measured: `${fanOutText(ours)} vs ${fanOutText(nginx)}`,
      verdict: Number.isFinite(allDelivered(ours)) ? atMost(allDelivered(ours), allDelivered(nginx), formatMs) : `missed (${ours.delivered}/${ours.watches} delivered)`,
    },
    {
      target: `${title}: opening ${count} watches < nginx's CPU (tree)`,
      measured: `${seconds(ours.openCpuSeconds)} vs ${seconds(nginx.openCpuSeconds)}`,
      verdict: atMost(ours.openCpuSeconds, nginx.openCpuSeconds, seconds, { strict: true }),
    },
  ];
}

export function largeWatchTargets(rows: ProxyBenchResults['largeWatches']): TargetLine[] {
  const lines: TargetLine[] = [];
  for (const server of ['nginx', 'warden2'] as const) {
    const row = rows[server];
    const title = serverTitles[server];
    const fan = measuredWatches(row);
    if (fan === undefined) {
      const measured = row !== undefined && 'skipped' in row ? 'not run (why: under the watch table)' : 'not measured';
      if (server === 'nginx') lines.push({ target: 'nginx: the large watch row, for comparison', measured, verdict: notMeasured });
      else lines.push({ target: `${title}: large watch row ≤ 300 MiB added, all within 2 s`, measured, verdict: notMeasured });
      continue;
    }
    const count = fan.watches.toLocaleString('en-US');
    if (server === 'nginx') {
      // The targets are etcd-warden's; nginx's figures are there to compare with.
      lines.push({ target: `nginx: ${count} watches, for comparison (no target)`, measured: `${mibText(addedRssBytes(fan))} added, fan-out ${fanOutText(fan)}`, verdict: '-' });
      continue;
    }
    lines.push({
      target: `${title}: ${count} watches add ≤ 300 MiB (tree)`,
      measured: `${mibText(addedRssBytes(fan))} (${(addedRssBytes(fan) / fan.watches / 1024).toFixed(1)} KiB/watch)`,
      verdict: atMost(addedRssBytes(fan), 300 * mib, mibText),
    });
    const all = fan.fanOutMs !== undefined && fan.delivered === fan.watches ? fan.fanOutMs : NaN;
    lines.push({
      target: `${title}: one write reaches all ${count} within 2 s`,
      measured: fanOutText(fan),
      verdict: Number.isFinite(all) ? atMost(all, 2000, formatMs) : `missed (${fan.delivered}/${fan.watches} delivered)`,
    });
  }
  return lines;
}

function footprintTargets(results: ProxyBenchResults): TargetLine[] {
  // Judged on the single-process proxy: with workers: N each worker is a whole
  // proxy of its own, so the tree grows with N by design (×2 is printed above).
  const idle = results.idleRss.warden1;
  const after = results.finalRss.warden1;
  return [
    {
      target: `${serverTitles.warden1}: idle RSS 3 s after start ≤ 60 MiB (tree)`,
      measured: idle === undefined ? 'not measured' : `${mibText(idle.totalBytes)} (×2: ${mibText(results.idleRss.warden2?.totalBytes ?? NaN)})`,
      verdict: atMost(idle?.totalBytes ?? NaN, 60 * mib, mibText),
    },
    {
      target: `${serverTitles.warden1}: RSS after the whole bench ≤ 120 MiB (tree)`,
      measured: after === undefined ? 'not measured' : `${mibText(after.totalBytes)} (×2: ${mibText(results.finalRss.warden2?.totalBytes ?? NaN)})`,
      verdict: atMost(after?.totalBytes ?? NaN, 120 * mib, mibText),
    },
  ];
}

export function targets(results: ProxyBenchResults): TargetLine[] {
  const perWarden = (make: (results: ProxyBenchResults, warden: WardenName) => TargetLine[]): TargetLine[] => wardenNames.flatMap((warden) => make(results, warden));
  return [
    ...perWarden(getTargets),
    ...perWarden(putTargets),
    ...perWarden(watchTargets),
    ...largeWatchTargets(results.largeWatches),
    ...perWarden(mixedTargets),
    ...footprintTargets(results),
    ...perWarden(authVsOpenTargets),
  ];
}

export function anyTargetMissed(results: ProxyBenchResults): boolean {
  return targets(results).some((line) => line.verdict.startsWith('missed'));
}
