// Plain-text tables for human output.
export function renderTable(headers: string[], rows: string[][], rightAlign: boolean[] = []): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (rightAlign[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return ['  ' + line(headers), '  ' + widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map((r) => '  ' + line(r))].join('\n');
}
