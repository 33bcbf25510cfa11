// deploy/ is part of the product: the alert rules and the dashboard may only
// use metrics the code really exports, and the units must keep their
// hardening and restart policy. (promtool and systemd-analyze verify both
// pass on these files too; they are not needed to run this test.)
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createMirrorMetrics } from '../../mirror/metrics.js';
import { parseMirrorArgs } from '../../bin/commands/mirror.js';
import { mirrorNodeFlags } from '../../mirror/options.js';
import { ProxyMetrics } from '../../proxy/metrics.js';

const deployFile = (name: string): string => readFileSync(new URL(`../../deploy/${name}`, import.meta.url), 'utf8');

async function exportedMetricNames(): Promise<Set<string>> {
  const names = new Set<string>();
  const exported = [...(await new ProxyMetrics().registry.getMetricsAsJSON()).map((metric) => ({ name: metric.name, type: String(metric.type) })), ...createMirrorMetrics(() => 0).registry.describe()];
  for (const metric of exported) {
    names.add(metric.name);
    if (metric.type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(metric.name + suffix);
  }
  return names;
}

const usedMetricNames = (expression: string): string[] => expression.match(/\b(?:etcd_warden|etcdmirror)_[a-z0-9_]+\b/g) ?? [];

interface Rule {
  alert?: string;
  expr?: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

const rules = (parse(deployFile('alerts.yaml')) as { groups: Array<{ name: string; rules: Rule[] }> }).groups.flatMap((group) => group.rules);

describe('deploy/alerts.yaml', () => {
  it('has the alerts operations asked for, each with an expression, a severity and a summary', () => {
    const names = rules.map((rule) => rule.alert);
    expect(new Set(names).size).toBe(names.length);
    for (const wanted of [
      'EtcdWardenMirrorDown', 'EtcdWardenMirrorNoSourceContact', 'EtcdWardenReplicationLag', 'EtcdWardenMirrorResynced',
      'EtcdWardenMirrorStrictFailure', 'EtcdWardenProxy5xxRate', 'EtcdWardenAuthFailureSpike', 'EtcdWardenCertificateExpiringSoon',
      'EtcdWardenConfigReloadFailed', 'EtcdWardenMemberUrlBypass',
    ]) expect(names).toContain(wanted);
    for (const rule of rules) {
      expect(typeof rule.expr, rule.alert).toBe('string');
      expect(['warning', 'critical'], rule.alert).toContain(rule.labels?.severity);
      expect(rule.annotations?.summary, rule.alert).toBeTruthy();
    }
  });

  it('uses only metric names the proxy and the mirror export', async () => {
    const exported = await exportedMetricNames();
    const used = rules.flatMap((rule) => usedMetricNames(rule.expr ?? ''));
    expect(used.length).toBeGreaterThan(10);
    expect(used.filter((name) => !exported.has(name))).toEqual([]);
  });

  it('warns 14 days before the certificate expires, using the expiry metric', () => {
    const rule = rules.find((candidate) => candidate.alert === 'EtcdWardenCertificateExpiringSoon');
    expect(rule?.expr).toContain('etcd_warden_tls_certificate_expiry_timestamp_seconds - time() < 14 * 86400');
  });
});

describe('deploy/grafana-dashboard.json', () => {
  const dashboard = JSON.parse(deployFile('grafana-dashboard.json')) as {
    uid: string;
    panels: Array<{ id: number; type: string; title: string; targets?: Array<{ expr: string }> }>;
  };
  const expressions = dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((target) => target.expr));

  it('graphs only metrics that exist', async () => {
    const exported = await exportedMetricNames();
    const used = expressions.flatMap(usedMetricNames);
    expect(used.filter((name) => !exported.has(name))).toEqual([]);
  });

  it('covers the proxy and the mirror, with unique panel ids', () => {
    const ids = dashboard.panels.map((panel) => panel.id);
    expect(new Set(ids).size).toBe(ids.length);
    const used = new Set(expressions.flatMap(usedMetricNames));
    for (const name of ['etcd_warden_requests_total', 'etcd_warden_open_watches', 'etcd_warden_read_only', 'etcdmirror_lag', 'etcd_warden_mirror_resyncs_total', 'etcd_warden_mirror_seconds_since_source_contact']) {
      expect(used).toContain(name);
    }
  });
});

/** systemd unit → section → directive → every value (directives may repeat). */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current = new Map<string, string[]>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header?.[1] !== undefined) {
      current = new Map();
      sections.set(header[1], current);
      continue;
    }
    const eq = line.indexOf('=');
    const key = line.slice(0, eq);
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1)]);
  }
  return sections;
}

describe('deploy/*.service', () => {
  const hardening: Record<string, string> = {
    User: 'etcd-warden',
    NoNewPrivileges: 'yes',
    ProtectSystem: 'strict',
    ProtectHome: 'yes',
    PrivateTmp: 'yes',
    CapabilityBoundingSet: '',
    Restart: 'on-failure',
  };

  for (const file of ['etcd-warden.service', 'etcd-warden-mirror.service']) {
    it(`${file} is hardened and does not hammer a broken start`, () => {
      const unit = parseUnit(deployFile(file));
      const service = unit.get('Service');
      for (const [key, value] of Object.entries(hardening)) expect(service?.get(key), `${file} ${key}`).toEqual([value]);
      expect(service?.get('RestartSec')?.[0]).toMatch(/^\d+s$/);
      expect(Number(unit.get('Unit')?.get('StartLimitIntervalSec')?.[0])).toBeGreaterThan(0);
      expect(Number(unit.get('Unit')?.get('StartLimitBurst')?.[0])).toBeGreaterThan(0);
    });
  }

  it('the proxy unit checks the config before starting and before reloading, and reloads with SIGHUP', () => {
    const service = parseUnit(deployFile('etcd-warden.service')).get('Service');
    const check = '/usr/local/bin/etcd-warden check-config --config /etc/etcd-warden/config.yaml';
    expect(service?.get('ExecStartPre')).toEqual([check]);
    expect(service?.get('ExecStart')).toEqual(['/usr/local/bin/etcd-warden proxy --config /etc/etcd-warden/config.yaml']);
    expect(service?.get('ExecReload')).toEqual([check, '/bin/kill -HUP $MAINPID']);
  });

  it('the mirror unit keeps URLs out of the command line and its flags parse as the mirror parses them', async () => {
    const service = parseUnit(deployFile('etcd-warden-mirror.service')).get('Service');
    expect(service?.get('EnvironmentFile')).toEqual(['/etc/etcd-warden/mirror.env']);
    const execStart = service?.get('ExecStart')?.[0] ?? '';
    expect(execStart).not.toContain('://');
    expect(service?.has('ExecReload')).toBe(false);
    const env = Object.fromEntries(
      deployFile('etcd-warden-mirror.env.example').split('\n').filter((line) => /^[A-Z_]+=/.test(line)).map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
    );
    // systemd splits an unbraced $VARIABLE on whitespace into separate arguments.
    const [, command, ...args] = execStart.split(/\s+/).flatMap((word) => (/^\$[A-Z_]+$/.test(word) ? (env[word.slice(1)] ?? '').split(/\s+/) : [word]));
    expect(command).toBe('mirror');
    const options = await parseMirrorArgs(args, env);
    expect(options).toMatchObject({ api: 'v2', srcPrefix: '/conftool', dstPrefix: '/conftool', strip: true, port: 8000, dst: 'http://127.0.0.1:2379' });
  });

  it('the mirror unit runs Node with the flags the bundled mirror gets (the small young generation)', () => {
    const service = parseUnit(deployFile('etcd-warden-mirror.service')).get('Service');
    expect(service?.get('Environment')).toContain(`NODE_OPTIONS=${mirrorNodeFlags.join(' ')}`);
  });
});
