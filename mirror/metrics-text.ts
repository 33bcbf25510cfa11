// The few metric kinds the mirror exports, in Prometheus' text format (0.0.4).
// Not prom-client (which the proxy uses): the mirror's whole set is a dozen
// series, and loading prom-client cost the mirror process 5.5 MiB of its
// ~60 MiB (measured; etcdmirror, which it replaces, peaks at 61 MiB).

export type Labels = Readonly<Record<string, string>>;
export type MetricType = 'counter' | 'gauge' | 'histogram';

interface Metric {
  readonly name: string;
  readonly type: MetricType;
  /** Sample lines, each label set followed by `extra` (the registry's default labels). */
  lines(extra: string): string[];
}

const escapeLabel = (value: string): string => value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const escapeHelp = (value: string): string => value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
const formatValue = (value: number): string => (value === Infinity ? '+Inf' : value === -Infinity ? '-Inf' : Number.isNaN(value) ? 'NaN' : String(value));

function labelText(labels: Labels, extra: string): string {
  const own = Object.entries(labels).map(([name, value]) => `${name}="${escapeLabel(value)}"`);
  const all = [...own, ...(extra === '' ? [] : [extra])].join(',');
  return all === '' ? '' : `{${all}}`;
}

/** Values by label set; the label-less series exists (at 0) from the start, as prom-client's does. */
class Series {
  private readonly values = new Map<string, { labels: Labels; value: number }>();

  constructor(labelled: boolean) {
    if (!labelled) this.values.set('{}', { labels: {}, value: 0 });
  }

  value(labels: Labels): number {
    return this.values.get(JSON.stringify(labels))?.value ?? 0;
  }

  update(labels: Labels, change: (value: number) => number): void {
    const key = JSON.stringify(labels);
    const entry = this.values.get(key) ?? { labels, value: 0 };
    entry.value = change(entry.value);
    this.values.set(key, entry);
  }

  lines(name: string, extra: string): string[] {
    return [...this.values.values()].map(({ labels, value }) => `${name}${labelText(labels, extra)} ${formatValue(value)}`);
  }
}

export class Counter implements Metric {
  readonly type = 'counter';
  private readonly series: Series;

  constructor(readonly name: string, readonly help: string, labelNames: readonly string[] = []) {
    this.series = new Series(labelNames.length > 0);
  }

  /** inc(), inc(5), inc({ reason: 'reload' }), inc({ reason: 'reload' }, 0). */
  inc(labelsOrValue: Labels | number = 1, value = 1): void {
    const [labels, by] = typeof labelsOrValue === 'number' ? [{}, labelsOrValue] : [labelsOrValue, value];
    this.series.update(labels, (current) => current + by);
  }

  value(labels: Labels = {}): number {
    return this.series.value(labels);
  }

  lines(extra: string): string[] {
    return this.series.lines(this.name, extra);
  }
}

export class Gauge implements Metric {
  readonly type = 'gauge';
  private readonly series: Series;

  /** `collect` sets the value just before each scrape. */
  constructor(readonly name: string, readonly help: string, options: { readonly labelNames?: readonly string[]; readonly collect?: () => number } = {}) {
    this.series = new Series((options.labelNames?.length ?? 0) > 0);
    this.collect = options.collect;
  }

  private readonly collect: (() => number) | undefined;

  set(labelsOrValue: Labels | number, value = 0): void {
    const [labels, to] = typeof labelsOrValue === 'number' ? [{}, labelsOrValue] : [labelsOrValue, value];
    this.series.update(labels, () => to);
  }

  value(labels: Labels = {}): number {
    return this.series.value(labels);
  }

  lines(extra: string): string[] {
    if (this.collect !== undefined) this.set(this.collect());
    return this.series.lines(this.name, extra);
  }
}

export class Histogram implements Metric {
  readonly type = 'histogram';
  private readonly counts: number[];
  private sum = 0;
  private count = 0;

  constructor(readonly name: string, readonly help: string, private readonly buckets: readonly number[]) {
    this.counts = buckets.map(() => 0);
  }

  observe(value: number): void {
    this.sum += value;
    this.count += 1;
    this.buckets.forEach((bound, i) => {
      if (value <= bound) this.counts[i] = (this.counts[i] ?? 0) + 1;
    });
  }

  lines(extra: string): string[] {
    const bucket = (le: string, count: number): string => `${this.name}_bucket${labelText({ le }, extra)} ${count}`;
    return [
      ...this.buckets.map((bound, i) => bucket(formatValue(bound), this.counts[i] ?? 0)),
      bucket('+Inf', this.count),
      `${this.name}_sum${labelText({}, extra)} ${formatValue(this.sum)}`,
      `${this.name}_count${labelText({}, extra)} ${this.count}`,
    ];
  }
}

export class MetricsRegistry {
  readonly contentType = 'text/plain; version=0.0.4; charset=utf-8';
  private readonly metrics: Array<Metric & { readonly help: string }> = [];

  /** Labels added to every series (`api="v3"` for the v3 mirror). */
  constructor(private readonly defaultLabels: Labels = {}) {}

  register<M extends Metric & { readonly help: string }>(metric: M): M {
    this.metrics.push(metric);
    return metric;
  }

  /** What is exported, for checks that alerts and dashboards use only real names. */
  describe(): Array<{ name: string; type: MetricType }> {
    return this.metrics.map(({ name, type }) => ({ name, type }));
  }

  text(): string {
    const extra = labelText(this.defaultLabels, '').slice(1, -1);
    return this.metrics.map((metric) => [`# HELP ${metric.name} ${escapeHelp(metric.help)}`, `# TYPE ${metric.name} ${metric.type}`, ...metric.lines(extra)].join('\n')).join('\n\n') + '\n';
  }
}
