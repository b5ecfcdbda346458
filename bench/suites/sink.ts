import { createLogger, type Logger } from '../../engine/log.js';
import { intArg } from '../harness/args.js';
import { repeat } from '../harness/repeat.js';
import { compare } from '../harness/stats.js';
import type { BenchResult, Suite, SuiteContext } from '../harness/types.js';
import { baselineRowsPerSec, emptyTable, kuzetRowsPerSec, makeFrames } from '../sink/load.js';
import { openEmbedded, openMachineServer, type SinkTarget } from '../sink/targets.js';

/** DetectionWriter's default (and maximum) rows per INSERT; the suite leaves maxBatchRows unset. */
const WRITER_BATCH_ROWS = 1000;

interface TargetPlan {
  open(log: Logger): Promise<SinkTarget>;
  /** Rows the single-row baseline inserts per run (fewer than the writer's when the target is slow at it). */
  baselineRows: number;
}

async function measure(
  ctx: SuiteContext,
  plan: TargetPlan,
  rows: number,
  perFrame: number,
  log: Logger,
): Promise<BenchResult> {
  const target = await plan.open(log);
  try {
    ctx.progress(`${target.name}: ${target.hypertable ? 'hypertable' : 'plain table'}`);
    const per = await repeat(
      { runs: ctx.runs, warmup: ctx.warmup, label: target.name, progress: ctx.progress },
      async (run) => {
        const tag = run < 0 ? `w${-run}` : `r${run}`;
        await emptyTable(target.sql);
        const base = await baselineRowsPerSec(
          target.sql,
          makeFrames(`baseline-${tag}`, plan.baselineRows / perFrame, perFrame),
        );
        await emptyTable(target.sql);
        const kuzet = await kuzetRowsPerSec(
          target.sql,
          makeFrames(`kuzet-${tag}`, rows / perFrame, perFrame),
          log,
        );
        await emptyTable(target.sql);
        return { kuzet, base };
      },
    );
    const scaled =
      plan.baselineRows < rows
        ? ` (baseline inserts only ${plan.baselineRows} rows/run, rows/s computed over those)`
        : '';
    const notes =
      `${target.notes.join('; ')}; detections is a ${target.hypertable ? 'TimescaleDB hypertable' : 'plain table (no TimescaleDB)'}; ` +
      `Kuzet: DetectionWriter, batch ${WRITER_BATCH_ROWS} rows, ${rows} rows/run = ${rows / perFrame} frames x ${perFrame}, ` +
      `timed first enqueue -> flush done; baseline: single-row INSERT ... VALUES awaited one by one${scaled}; ` +
      `table truncated before each side; row counts verified`;
    return compare(
      target.name,
      'rows/s',
      'higher',
      per.map((r) => r.kuzet),
      per.map((r) => r.base),
      notes,
    );
  } finally {
    await target.close();
  }
}

function multipleOf(key: string, value: number, of: number): number {
  if (value % of !== 0)
    throw new RangeError(`--${key} (${value}) must be a multiple of --detections (${of})`);
  return value;
}

export const sinkSuite: Suite = {
  name: 'sink',
  description:
    'detections rows/s into the embedded TimescaleDB and the PostgreSQL server on the machine (127.0.0.1:5432, else a throwaway one): Kuzet DetectionWriter (batched) vs a single-row INSERT ... VALUES loop',
  async run(ctx) {
    const perFrame = intArg(ctx, 'detections', 10);
    const rows = multipleOf('rows', intArg(ctx, 'rows', 20_000), perFrame);
    const embeddedBaselineRows = multipleOf(
      'embedded-baseline-rows',
      Math.min(rows, intArg(ctx, 'embedded-baseline-rows', rows)),
      perFrame,
    );
    // Warnings (e.g. "TimescaleDB is not available") are in the notes already; errors still show.
    const log = createLogger('bench.sink', 'error');
    const plans: TargetPlan[] = [
      { open: openEmbedded, baselineRows: embeddedBaselineRows },
      { open: openMachineServer, baselineRows: rows },
    ];
    const results: BenchResult[] = [];
    for (const plan of plans) results.push(await measure(ctx, plan, rows, perFrame, log));
    return results;
  },
};
