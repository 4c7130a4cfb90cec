// Human output like docker's: aligned columns separated by three spaces; JSON; ids only.

export function table(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('   ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

export type Format = 'table' | 'json';

export interface OutputOpts {
  format?: string;
  quiet?: boolean;
}

/** Print a list as a table, as JSON (proto JSON of each object) or as ids (-q). */
export function printList<T>(
  items: readonly T[], opts: OutputOpts, view: { headers: string[]; row: (x: T) => string[]; id: (x: T) => string; json: (x: T) => unknown },
  out: (s: string) => void = (s) => process.stdout.write(s),
): void {
  if (opts.quiet) {
    for (const x of items) out(`${view.id(x)}\n`);
    return;
  }
  if (opts.format === 'json') {
    out(`${JSON.stringify(items.map(view.json), null, 2)}\n`);
    return;
  }
  out(table(view.headers, items.map(view.row)));
}

export const shortId = (id: string): string => id.slice(0, 12);

export function ago(iso: string | undefined, now = Date.now()): string {
  if (!iso) return '';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s} seconds ago`;
  if (s < 3600) return `${Math.round(s / 60)} minutes ago`;
  if (s < 86400) return `${Math.round(s / 3600)} hours ago`;
  return `${Math.round(s / 86400)} days ago`;
}
