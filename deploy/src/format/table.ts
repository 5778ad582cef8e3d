// Plain-text tables as kubectl prints them: upper-case headers, columns padded to the
// widest cell and three spaces apart, no trailing blanks.

export function renderTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [headers, ...rows];
  const widths = headers.map((_, col) => Math.max(...all.map((row) => (row[col] ?? '').length)));
  return (
    all
      .map((row) =>
        headers
          .map((_, col) => {
            const cell = row[col] ?? '';
            return col === headers.length - 1 ? cell : cell.padEnd(widths[col] ?? 0);
          })
          .join('   ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

/** What a table shows for an empty field. */
export const none = '<none>';

export function orNone(value: string | undefined): string {
  return value === undefined || value === '' ? none : value;
}
