// Output of a benchmark run: aligned tables in the terminal, the same tables
// in bench/results/report.md, and an SVG bar chart drawn from the data.

/** A number with `digits` decimals, or '-' when missing. */
export function fmt(value, digits = 0) {
  if (value === undefined || value === null || Number.isNaN(value)) return '-';
  return value.toLocaleString('en-US', {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

/** A ratio such as `1.23x`, or '-' when either side is missing. */
export function ratio(value, reference) {
  if (!(value >= 0) || !(reference > 0)) return '-';
  return `${value / reference >= 10 ? fmt(value / reference, 0) : fmt(value / reference, 2)}x`;
}

/** A table: a title, column headers, rows of strings, and notes under it. */
export function table(title, headers, rows, notes = []) {
  return { title, headers, rows: rows.map((row) => row.map(String)), notes };
}

export function printTable({ title, headers, rows, notes }) {
  const widths = headers.map((header, i) =>
    Math.max(header.length, ...rows.map((row) => row[i].length)),
  );
  const line = (cells) =>
    cells
      .map((cell, i) =>
        i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]),
      )
      .join('  ');
  console.log(`\n${title}`);
  console.log(line(headers));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));
  for (const note of notes) console.log(`  ${note}`);
}

export function markdownTable({ title, headers, rows, notes }) {
  const escape = (cell) => cell.replaceAll('|', '\\|');
  return [
    `### ${title}`,
    '',
    `| ${headers.map(escape).join(' | ')} |`,
    `|${headers.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`,
    ...rows.map((row) => `| ${row.map(escape).join(' | ')} |`),
    '',
    ...notes.map((note) => `${note}  `),
    '',
  ].join('\n');
}

const escapeXml = (text) =>
  String(text)
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;');

/**
 * Horizontal bar charts, one panel per series, stacked vertically:
 * `panels` = [{ title, unit, bars: [{ label, value, highlight }] }].
 */
export function barChartSvg(title, subtitle, panels) {
  const width = 760;
  const labelWidth = 250;
  const barArea = width - labelWidth - 90;
  const barHeight = 18;
  const gap = 6;
  let y = 58;
  const parts = [];
  for (const panel of panels) {
    parts.push(
      `<text x="16" y="${y}" font-size="14" font-weight="bold">${escapeXml(panel.title)}</text>`,
    );
    y += 12;
    const top = Math.max(...panel.bars.map((bar) => bar.value || 0), 1);
    for (const bar of panel.bars) {
      const length = Math.max(1, ((bar.value || 0) / top) * barArea);
      const color = bar.highlight ? '#d9480f' : '#4263eb';
      parts.push(
        `<text x="${labelWidth - 8}" y="${y + 13}" font-size="12" text-anchor="end">${escapeXml(bar.label)}</text>`,
        `<rect x="${labelWidth}" y="${y}" width="${length.toFixed(1)}" height="${barHeight}" fill="${color}"/>`,
        `<text x="${labelWidth + length + 6}" y="${y + 13}" font-size="12">${escapeXml(fmt(bar.value))} ${escapeXml(panel.unit)}</text>`,
      );
      y += barHeight + gap;
    }
    y += 26;
  }
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" viewBox="0 0 ${width} ${y}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="16" y="24" font-size="16" font-weight="bold">${escapeXml(title)}</text>`,
    `<text x="16" y="42" font-size="11" fill="#555">${escapeXml(subtitle)}</text>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}
