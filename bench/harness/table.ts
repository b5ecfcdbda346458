import type { BenchResult, MachineInfo } from './types.js';

function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : v.toFixed(2);
}

export function formatMachine(m: MachineInfo): string {
  const pkgs = Object.entries(m.packages)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  return [
    `machine: ${m.cpuModel}, ${m.cores} cores, ${m.totalMemoryGiB} GiB, ${m.platform}`,
    `node ${m.node}; ${pkgs}; GPU: ${m.gpu}; load average (1 min) at start: ${m.loadAverage1m}`,
  ].join('\n');
}

/** Fixed-width table: median with [min..max] per side, and the ratio (> 1 = Kuzet better). */
export function formatTable(results: readonly BenchResult[]): string {
  const header = [
    'result',
    'unit',
    'kuzet p50',
    'kuzet [min..max]',
    'baseline p50',
    'baseline [min..max]',
    'ratio',
  ];
  const rows = results.map((r) => [
    r.name,
    r.unit,
    fmt(r.kuzet),
    `[${fmt(r.spread.kuzet.min)}..${fmt(r.spread.kuzet.max)}]`,
    fmt(r.baseline),
    `[${fmt(r.spread.baseline.min)}..${fmt(r.spread.baseline.max)}]`,
    `${r.ratio.toFixed(2)}x`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  const out = [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
  for (const r of results) if (r.notes) out.push(`  ${r.name}: ${r.notes}`);
  return out.join('\n');
}
