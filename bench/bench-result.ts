/**
 * One figure of `npm run bench`. Every benchmark module exports
 * `run(): Promise<BenchResult[]>`; `bench/run.ts` prints them as one table and writes
 * `bench/results/latest.json` / `latest.md`.
 *
 * Absolute times drift on a shared machine, so a figure is measured beside a `reference`
 * (the same work done by the simplest possible program, in the same run) and `ratio` is
 * value / reference.value: what callpop adds.
 */
export interface BenchResult {
  name: string;
  value: number;
  unit: string;
  reference?: { name: string; value: number; unit: string };
  ratio?: number;
  target?: string;
  notes?: string;
}

export type BenchModule = { run(options?: BenchOptions): Promise<BenchResult[]> };

/** What `bench/run.ts` hands to the modules it owns (the others take no argument). */
export interface BenchOptions {
  /** Shrunk durations for a smoke run (`--quick`). */
  quick: boolean;
  /** Wall-clock budget for this module; it plans its durations to stay inside it. */
  budgetMs: number;
}

/** Nearest-rank percentile of unsorted samples (NaN when empty). */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))] ?? Number.NaN;
}

export function median(samples: readonly number[]): number {
  return percentile(samples, 50);
}

/** Rounds to 3 significant decimals for the table (keeps small values readable). */
export function round(value: number, decimals = 3): number {
  if (!Number.isFinite(value)) return value;
  const f = 10 ** decimals;
  return Math.round(value * f) / f;
}

/** value / reference, rounded; undefined when either is not a positive finite number. */
export function ratio(value: number, reference: number): number | undefined {
  if (!Number.isFinite(value) || !Number.isFinite(reference) || reference <= 0) return undefined;
  return round(value / reference, 2);
}

/** A result with its reference and ratio filled in. */
export function compared(
  name: string,
  value: number,
  unit: string,
  reference: { name: string; value: number } | undefined,
  extra: { target?: string; notes?: string } = {},
): BenchResult {
  const result: BenchResult = { name, value: round(value), unit };
  if (reference) {
    result.reference = { name: reference.name, value: round(reference.value), unit };
    const r = ratio(value, reference.value);
    if (r !== undefined) result.ratio = r;
  }
  if (extra.target) result.target = extra.target;
  if (extra.notes) result.notes = extra.notes;
  return result;
}

/** A row saying a figure could not be measured here, and why. */
export function notAvailable(name: string, reason: string, unit = ''): BenchResult {
  return { name, value: Number.NaN, unit, notes: `not available: ${reason}` };
}
