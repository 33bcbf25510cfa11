// Plain-text tables for the bench report: first column left-aligned, the
// figures right-aligned, an optional group line above the header.

export interface TextTable {
  /** Column groups above the header: [label, number of columns spanned]. */
  readonly groups?: readonly (readonly [string, number])[];
  readonly header: readonly string[];
  readonly rows: readonly (readonly string[])[];
  /** Columns aligned left besides the first (text rather than figures). */
  readonly left?: readonly number[];
}

export function renderTable(table: TextTable): string {
  const columns = table.header.length;
  const widths = Array.from({ length: columns }, (_, i) => Math.max(...[table.header, ...table.rows].map((row) => (row[i] ?? '').length)));
  const gap = '  ';
  const line = (row: readonly string[]): string =>
    row.map((cell, i) => (i === 0 || table.left?.includes(i) === true ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join(gap).trimEnd();
  const out: string[] = [];
  if (table.groups !== undefined) {
    let column = 0;
    const cells: string[] = [];
    for (const [label, span] of table.groups) {
      const width = widths.slice(column, column + span).reduce((sum, w) => sum + w, 0) + gap.length * (span - 1);
      cells.push(column === 0 ? label.padEnd(width) : label.padStart(width));
      column += span;
    }
    out.push(cells.join(gap).trimEnd());
  }
  out.push(line(table.header));
  out.push(widths.map((w) => '-'.repeat(w)).join(gap));
  for (const row of table.rows) out.push(line(row));
  return out.join('\n');
}

export function formatRate(perSecond: number): string {
  return perSecond >= 100 ? Math.round(perSecond).toLocaleString('en-US') : perSecond.toFixed(1);
}

export function formatMs(ms: number): string {
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 100) return `${Math.round(ms)} ms`;
  if (ms >= 10) return `${ms.toFixed(1)} ms`;
  return `${ms.toFixed(2)} ms`;
}

export function formatMiB(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
