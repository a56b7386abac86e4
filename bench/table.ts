/** The one table model of the bench's reports, rendered for the terminal and for Markdown. */

export interface Table {
  title: string;
  /** Lines under the title: what the figures are. */
  note?: string[];
  header: string[];
  /** Column alignment; default: the first column left, the others right. */
  align?: ('l' | 'r')[];
  rows: string[][];
}

const alignOf = (t: Table, i: number) => t.align?.[i] ?? (i === 0 ? 'l' : 'r');

export function toText(t: Table): string {
  const widths = t.header.map((h, i) =>
    Math.max(h.length, ...t.rows.map((r) => (r[i] ?? '').length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (alignOf(t, i) === 'l' ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join('  ')
      .trimEnd();
  return [
    t.title.toUpperCase(),
    ...(t.note ?? []),
    line(t.header),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...t.rows.map(line),
  ].join('\n');
}

export function toMarkdown(t: Table, level = '##'): string {
  const sep = t.header.map((_, i) => (alignOf(t, i) === 'l' ? '---' : '--:'));
  const body = [t.header, sep, ...t.rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
  return [`${level} ${t.title}`, '', ...(t.note ? [...t.note, ''] : []), body].join('\n');
}
