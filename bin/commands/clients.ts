// `etcd-warden clients --metrics URL [--json]`: who is still using this etcd
// member through the proxy, read from the proxy's /clients endpoint.
import type { ClientsReport } from '../../proxy/clients.js';
import { runCommand, switchFlag, tlsFlags, tlsMaterial, urlFlag, UsageError, type CommandIo } from './flags.js';
import { createProber, jsonBody } from './probe.js';

const clientsUsage = 'usage: etcd-warden clients --metrics http://127.0.0.1:9181 [--json] [--ca-file F] [--cert-file F --key-file F]';

const clientsFlags = { ...tlsFlags, metrics: urlFlag('--metrics'), json: switchFlag('--json') };

export function clientsCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  return runCommand(argv, { name: 'clients', usage: clientsUsage, flags: clientsFlags, usageExitCode: 2 }, io, async ({ flags, positional }) => {
    if (positional.length > 0) throw new UsageError(`unexpected argument ${positional[0] ?? ''}`);
    if (flags.metrics === undefined) throw new UsageError('--metrics is required');
    const base = flags.metrics;
    const prober = createProber({ tls: await tlsMaterial(flags) });
    let report: ClientsReport;
    try {
      const answer = await prober.get(new URL('/clients', base).toString());
      const body = jsonBody(answer);
      if (answer.status !== 200 || body === undefined) throw new Error(`HTTP ${answer.status}, ${answer.body.length} bytes that are not the /clients report`);
      report = body as ClientsReport;
    } catch (error) {
      io.err.write(`etcd-warden clients: cannot read ${base}/clients: ${(error as Error).message}\n`);
      return 1;
    } finally {
      await prober.close();
    }
    if (flags.json) {
      io.out.write(JSON.stringify(report, null, 2) + '\n');
      return 0;
    }
    io.out.write(`${report.connections.reduce((sum, c) => sum + c.connections, 0)} open connections from ${report.connections.length} addresses, ${report.requests.length} requests in flight (${report.requests.filter((r) => r.watch).length} watches)\n\n`);
    io.out.write(table(['REMOTE', 'CONNECTIONS', 'OLDEST'], report.connections.map((c) => [c.remote, String(c.connections), seconds(c.oldestSeconds)])));
    if (report.requests.length > 0) {
      io.out.write('\n' + table(['REMOTE', 'USER', 'METHOD', 'KEY', 'WATCH', 'AGE'], report.requests.map((r) => [r.remote, r.user ?? '-', r.method, r.key, r.watch ? 'yes' : 'no', seconds(r.ageSeconds)])));
    }
    return 0;
  });
}

function seconds(value: number): string {
  return value < 120 ? `${value.toFixed(1)}s` : value < 7200 ? `${(value / 60).toFixed(1)}m` : `${(value / 3600).toFixed(1)}h`;
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd() + '\n';
  return line(header) + rows.map(line).join('');
}
