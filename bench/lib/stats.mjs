// Small statistics helpers shared by the scenarios and the report.

/** The p-th percentile (nearest rank) of `values`; NaN when empty. */
export function percentile(values, p) {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

export function median(values) {
  return percentile(values, 50);
}

export function max(values) {
  return values.reduce((a, b) => Math.max(a, b), -Infinity);
}
