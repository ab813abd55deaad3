export type Cell = string | number | null;

const show = (v: Cell): string => (v === null ? '' : typeof v === 'number' ? String(v) : v);

/** A plain, aligned text table: numbers right-aligned, text left-aligned. */
export function formatTable(headers: string[], rows: Cell[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => show(r[i] ?? null).length)));
  const numeric = headers.map((_, i) => rows.some((r) => typeof r[i] === 'number'));
  const line = (cells: Cell[]) => cells
    .map((c, i) => (numeric[i] ? show(c).padStart(widths[i]!) : show(c).padEnd(widths[i]!)))
    .join('  ')
    .trimEnd();
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** The same table as GitHub markdown, for docs/performance.md. */
export function formatMarkdownTable(headers: string[], rows: Cell[][]): string {
  const numeric = headers.map((_, i) => rows.some((r) => typeof r[i] === 'number'));
  return [
    `| ${headers.join(' | ')} |`,
    `|${numeric.map((n) => (n ? '---:' : '---')).join('|')}|`,
    ...rows.map((r) => `| ${headers.map((_, i) => show(r[i] ?? null)).join(' | ')} |`),
  ].join('\n');
}
