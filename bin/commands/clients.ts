// `etcd-warden clients --metrics URL [--json]`: who is still using this etcd
// member through the proxy, read from the proxy's /clients endpoint.
import type { ClientsReport } from '../../proxy/clients.js';

const usage = 'usage: etcd-warden clients --metrics http://127.0.0.1:9181 [--json]\n';

export async function clientsCommand(argv: string[], stdout: NodeJS.WritableStream, stderr: NodeJS.WritableStream): Promise<number> {
  const at = argv.indexOf('--metrics');
  const base = at >= 0 ? argv[at + 1] : undefined;
  if (base === undefined || argv.some((arg, i) => arg.startsWith('-') && arg !== '--metrics' && arg !== '--json' && i !== at + 1)) {
    stderr.write(usage);
    return 2;
  }
  let report: ClientsReport;
  try {
    const response = await fetch(new URL('/clients', base), { signal: AbortSignal.timeout(5000) });
    if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
    report = (await response.json()) as ClientsReport;
  } catch (error) {
    stderr.write(`etcd-warden clients: cannot read ${base}/clients: ${(error as Error).message}\n`);
    return 1;
  }
  if (argv.includes('--json')) {
    stdout.write(JSON.stringify(report, null, 2) + '\n');
    return 0;
  }
  stdout.write(`${report.connections.reduce((sum, c) => sum + c.connections, 0)} open connections from ${report.connections.length} addresses, ${report.requests.length} requests in flight (${report.requests.filter((r) => r.watch).length} watches)\n\n`);
  stdout.write(table(['REMOTE', 'CONNECTIONS', 'OLDEST'], report.connections.map((c) => [c.remote, String(c.connections), seconds(c.oldestSeconds)])));
  if (report.requests.length > 0) {
    stdout.write('\n' + table(['REMOTE', 'USER', 'METHOD', 'KEY', 'WATCH', 'AGE'], report.requests.map((r) => [r.remote, r.user ?? '-', r.method, r.key, r.watch ? 'yes' : 'no', seconds(r.ageSeconds)])));
  }
  return 0;
}

function seconds(value: number): string {
  return value < 120 ? `${value.toFixed(1)}s` : value < 7200 ? `${(value / 60).toFixed(1)}m` : `${(value / 3600).toFixed(1)}h`;
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd() + '\n';
  return line(header) + rows.map(line).join('');
}
