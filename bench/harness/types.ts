/** Shapes shared by the bench runner, its suites and the JSON it writes. */

export interface Spread {
  min: number;
  p25: number;
  median: number;
  p75: number;
  max: number;
}

/** One compared quantity. ratio > 1 always means Kuzet is better (throughput: kuzet/baseline; latency: baseline/kuzet). */
export interface BenchResult {
  name: string;
  unit: string;
  /** Median over runs. */
  kuzet: number;
  baseline: number;
  ratio: number;
  /** Kuzet's value per measured run (warm-up runs excluded). */
  runs: number[];
  baselineRuns: number[];
  spread: { kuzet: Spread; baseline: Spread };
  /** Free-form facts the reader needs to interpret the numbers (thread counts, images per run, drops). */
  notes?: string;
}

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  totalMemoryGiB: number;
  platform: string;
  node: string;
  packages: Record<string, string>;
  gpu: string;
  /** 1-minute load average when the suite started: other work on a shared host skews every number. */
  loadAverage1m: number;
}

export interface SuiteContext {
  /** Measured runs per side. */
  runs: number;
  /** Discarded runs per side before measuring. */
  warmup: number;
  /** Extra `--key value` flags, for suite-specific knobs. */
  args: Record<string, string>;
  /** Progress lines (stderr), so stdout stays the table. */
  progress(msg: string): void;
}

export interface Suite {
  name: string;
  description: string;
  run(ctx: SuiteContext): Promise<BenchResult[]>;
}

export interface BenchReport {
  suite: string;
  machine: MachineInfo;
  runs: number;
  warmup: number;
  startedAt: string;
  results: BenchResult[];
}
