// Reading a mirror's /metrics without a Prometheus server.
import { describe, expect, it } from 'vitest';
import { parsePrometheusText, sampleValue } from '../../bin/commands/prometheus-text.js';
import { parseFlags } from '../../bin/commands/flags.js';
import { mirrorBaseUrl } from '../../bin/commands/mirror-status-read.js';

const text = `# HELP etcd_warden_mirror_state Current mirror state
# TYPE etcd_warden_mirror_state gauge
etcd_warden_mirror_state{state="replicating"} 1
etcd_warden_mirror_state{state="stopped"} 0
etcdmirror_lag 3
etcd_warden_mirror_resyncs_total{reason="index_cleared"} 2
odd{path="a\\"b",le="+Inf"} +Inf
with_timestamp 7 1700000000000
`;

describe('parsePrometheusText', () => {
  const samples = parsePrometheusText(text);
  it('reads names, labels and values, skipping comments', () => {
    expect(samples).toHaveLength(6);
    expect(sampleValue(samples, 'etcd_warden_mirror_state', { state: 'replicating' })).toBe(1);
    expect(sampleValue(samples, 'etcdmirror_lag')).toBe(3);
    expect(sampleValue(samples, 'etcd_warden_mirror_resyncs_total', { reason: 'index_cleared' })).toBe(2);
    expect(sampleValue(samples, 'with_timestamp')).toBe(7);
    expect(sampleValue(samples, 'missing')).toBeUndefined();
  });
  it('unescapes label values and reads infinities', () => {
    expect(samples.find((sample) => sample.name === 'odd')).toEqual({ name: 'odd', labels: { path: 'a"b', le: '+Inf' }, value: Infinity });
  });
});

describe('operator command plumbing', () => {
  it('accepts a mirror status address as base, /lag or /metrics', () => {
    for (const url of ['http://h:8000', 'http://h:8000/', 'http://h:8000/lag', 'http://h:8000/metrics?x=1']) expect(mirrorBaseUrl(url)).toBe('http://h:8000');
  });
  it('refuses unknown flags, so a typo cannot turn a dry run into a real one', () => {
    const spec = { values: ['--mirror'], switches: ['--dry-run'] };
    expect(parseFlags(['--dryrun'], spec)).toEqual({ error: 'unknown flag --dryrun' });
    expect(parseFlags(['--dry-run=yes'], spec)).toEqual({ error: '--dry-run takes no value' });
    expect(parseFlags(['--mirror'], spec)).toEqual({ error: '--mirror needs a value' });
    const parsed = parseFlags(['--mirror=http://m', '--dry-run', 'x'], spec);
    expect('error' in parsed ? parsed : { values: [...parsed.values], switches: [...parsed.switches], positional: parsed.positional }).toEqual({ values: [['--mirror', 'http://m']], switches: ['--dry-run'], positional: ['x'] });
  });
});
