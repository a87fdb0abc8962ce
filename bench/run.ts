import { fork } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchResult } from './bench-result.js';
import type { ModuleOutcome } from './run-module.js';
import { machineInfo, type MachineInfo } from './lib/proc-stats.js';

/**
 * `npm run bench` (= `npm run build && node dist/bench/run.js [names...] [--quick]`).
 *
 * Runs every benchmark module one after the other, each in its own Node process
 * (bench/run-module.ts) and within a time budget, prints one
 * table and writes bench/results/latest.json + latest.md (a full run only; a filtered or
 * --quick run writes to the temp dir so it never replaces the committed figures).
 * A module that is missing, throws or overruns its budget becomes a row saying so; the run
 * goes on. The whole run is planned to fit in 5 minutes on a 2-core machine.
 */

interface Plan {
  name: string;
  /** Budget in ms for a full run; the modules owned by this runner plan their durations inside it. */
  budgetMs: number;
  quickBudgetMs: number;
}

// Order: short ones first; sustained-load last, since its 60 s hold takes what is left.
const PLANS: Plan[] = [
  { name: 'startup', budgetMs: 20_000, quickBudgetMs: 15_000 },
  { name: 'pop-latency', budgetMs: 80_000, quickBudgetMs: 45_000 },
  { name: 'fanout', budgetMs: 60_000, quickBudgetMs: 30_000 },
  { name: 'ingest-ami', budgetMs: 40_000, quickBudgetMs: 40_000 },
  { name: 'ingest-esl', budgetMs: 40_000, quickBudgetMs: 40_000 },
  { name: 'lookup', budgetMs: 40_000, quickBudgetMs: 40_000 },
  { name: 'mapping', budgetMs: 40_000, quickBudgetMs: 40_000 },
  // Six PBX outages side by side; the longest is 20 s (bench/reconnect.ts).
  { name: 'reconnect', budgetMs: 35_000, quickBudgetMs: 15_000 },
  { name: 'sustained-load', budgetMs: 165_000, quickBudgetMs: 45_000 },
];
/** The whole run (without `npm run build`) stays under this. */
const TOTAL_BUDGET_MS = 285_000;
/** The last module gets at most what is left of the total, and runs only with at least this. */
const MIN_LAST_BUDGET_MS = 30_000;
/** A module that overruns its budget by this factor is abandoned (its row says so). */
const OVERRUN_FACTOR = 1.5;

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = resolve(BENCH_DIR, '../..');

interface ModuleReport {
  module: string;
  status: 'ok' | 'not available' | 'failed' | 'timed out' | 'skipped';
  elapsedMs: number;
  results: BenchResult[];
}

interface RunReport {
  machine: MachineInfo & { loadAverage: number[] };
  quick: boolean;
  filter: string[];
  totalMs: number;
  modules: ModuleReport[];
}

function parseArgs(argv: string[]): { quick: boolean; filter: string[] } {
  const known = new Set(PLANS.map((p) => p.name));
  const filter: string[] = [];
  let quick = false;
  for (const arg of argv) {
    if (arg === '--quick') quick = true;
    else if (arg === '--help' || arg === '-h') {
      console.log(`usage: node dist/bench/run.js [--quick] [${[...known].join('|')} ...]`);
      process.exit(0);
    } else if (known.has(arg)) filter.push(arg);
    else {
      console.error(`unknown benchmark or option: ${arg} (known: ${[...known].join(', ')}, --quick)`);
      process.exit(2);
    }
  }
  return { quick, filter };
}

function isResult(value: unknown): value is BenchResult {
  const r = value as Partial<BenchResult> | null;
  return typeof r === 'object' && r !== null && typeof r.name === 'string' && typeof r.value === 'number' && typeof r.unit === 'string';
}

/** Signals the process group led by `pid` (a module's process and whatever it started). */
function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

/** Runs one module in its own Node process (bench/run-module.ts), within its budget. */
async function runOne(plan: Plan, budgetMs: number, quick: boolean): Promise<ModuleReport> {
  const start = performance.now();
  const report = (status: ModuleReport['status'], results: BenchResult[]): ModuleReport => ({ module: plan.name, status, elapsedMs: Math.round(performance.now() - start), results });
  const row = (notes: string): BenchResult[] => [{ name: plan.name, value: Number.NaN, unit: '', notes }];
  const limitMs = Math.round(budgetMs * OVERRUN_FACTOR);
  // Its own process group, so an abandoned module's daemons and load generators go with it.
  const child = fork(join(BENCH_DIR, 'run-module.js'), [plan.name, String(quick), String(budgetMs)], {
    serialization: 'advanced',
    stdio: 'inherit',
    detached: true,
  });
  // Detached from our process group, the module would outlive a Ctrl-C of the run: end it too.
  const interrupted = (signal: NodeJS.Signals): void => {
    if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  const outcome = await new Promise<ModuleOutcome | 'timeout' | { exit: string }>((resolve) => {
    const timer = setTimeout(() => resolve('timeout'), limitMs);
    child.once('message', (m) => {
      clearTimeout(timer);
      resolve(m as ModuleOutcome);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ exit: signal ?? `code ${code}` });
    });
  });
  process.off('SIGINT', interrupted);
  process.off('SIGTERM', interrupted);
  if (child.pid !== undefined && child.exitCode === null) killGroup(child.pid, outcome === 'timeout' ? 'SIGKILL' : 'SIGTERM');
  if (outcome === 'timeout') {
    return report('timed out', row(`timed out: no result within ${Math.round(limitMs / 1000)} s (budget ${Math.round(budgetMs / 1000)} s); abandoned`));
  }
  if ('exit' in outcome) return report('failed', row(`failed: the module's process exited (${outcome.exit}) without results`));
  if (outcome.status === 'not available') return report('not available', row(`not available: ${outcome.message}`));
  if (outcome.status === 'failed') return report('failed', row(`failed: ${outcome.message}`));
  const bad = outcome.results.filter((r) => !isResult(r)).length;
  const good = outcome.results.filter(isResult);
  if (bad > 0) good.push({ name: plan.name, value: Number.NaN, unit: '', notes: `${bad} result(s) without name/value/unit were dropped` });
  if (good.length === 0) good.push({ name: plan.name, value: Number.NaN, unit: '', notes: 'returned no results' });
  return report('ok', good);
}

function fmtNumber(v: number | undefined): string {
  if (v === undefined) return '';
  if (!Number.isFinite(v)) return '—';
  const abs = Math.abs(v);
  return abs >= 100 ? v.toFixed(0) : abs >= 10 ? v.toFixed(1) : abs >= 1 ? v.toFixed(2) : v.toFixed(3);
}

function rows(report: RunReport): string[][] {
  return report.modules.flatMap((m) =>
    m.results.map((r) => [
      m.module,
      r.name,
      `${fmtNumber(r.value)} ${r.unit}`.trim(),
      r.reference ? `${fmtNumber(r.reference.value)} ${r.reference.unit} (${r.reference.name})` : '',
      r.ratio !== undefined ? `×${fmtNumber(r.ratio)}` : '',
      r.target ?? '',
      r.notes ?? '',
    ]),
  );
}

const HEADER = ['module', 'figure', 'value', 'reference', 'ratio', 'target', 'notes'];

function textTable(report: RunReport): string {
  const body = rows(report).map((r) => r.map((c, i) => (i === 6 && c.length > 90 ? `${c.slice(0, 89)}…` : c)));
  const all = [HEADER, ...body];
  const widths = HEADER.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [line(HEADER), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

function markdown(report: RunReport): string {
  const m = report.machine;
  const escape = (c: string): string => c.replace(/\|/g, '\\|');
  const table = [`| ${HEADER.join(' | ')} |`, `|${HEADER.map(() => '---').join('|')}|`, ...rows(report).map((r) => `| ${r.map(escape).join(' | ')} |`)];
  return [
    `# callpop benchmark results`,
    '',
    `${m.date} — ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Node ${m.node}, ${m.platform}; load average at start ${m.loadAverage.map((l) => l.toFixed(2)).join(' ')}.`,
    `${report.quick ? 'Quick run (--quick). ' : ''}${report.filter.length ? `Only: ${report.filter.join(', ')}. ` : ''}Total ${Math.round(report.totalMs / 1000)} s.`,
    '',
    ...table,
    '',
    'Ratio = value / reference, both measured in the same run. See docs/performance.md for what each figure means.',
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const { quick, filter } = parseArgs(process.argv.slice(2));
  const plans = filter.length ? PLANS.filter((p) => filter.includes(p.name)) : PLANS;
  const report: RunReport = { machine: { ...machineInfo(), loadAverage: os.loadavg() }, quick, filter, totalMs: 0, modules: [] };
  const start = performance.now();
  for (const [i, plan] of plans.entries()) {
    const elapsed = performance.now() - start;
    const left = TOTAL_BUDGET_MS - elapsed;
    let budget = quick ? plan.quickBudgetMs : plan.budgetMs;
    if (i === plans.length - 1) budget = Math.min(budget, left);
    if (budget < Math.min(MIN_LAST_BUDGET_MS, quick ? plan.quickBudgetMs : plan.budgetMs) || left <= 0) {
      report.modules.push({ module: plan.name, status: 'skipped', elapsedMs: 0, results: [{ name: plan.name, value: Number.NaN, unit: '', notes: `skipped: the ${TOTAL_BUDGET_MS / 1000} s total budget is spent` }] });
      continue;
    }
    process.stderr.write(`bench: ${plan.name} (budget ${Math.round(budget / 1000)} s)... `);
    const result = await runOne(plan, budget, quick);
    process.stderr.write(`${result.status} in ${(result.elapsedMs / 1000).toFixed(1)} s\n`);
    report.modules.push(result);
  }
  report.totalMs = Math.round(performance.now() - start);

  console.log(`\n${textTable(report)}\n`);
  const full = !quick && filter.length === 0;
  const dir = full ? join(REPO_ROOT, 'bench/results') : join(os.tmpdir(), 'callpop-bench');
  mkdirSync(dir, { recursive: true });
  const json = join(dir, full ? 'latest.json' : 'partial.json');
  const md = join(dir, full ? 'latest.md' : 'partial.md');
  writeFileSync(json, `${JSON.stringify(report, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`);
  writeFileSync(md, markdown(report));
  const shown = (p: string): string => (full ? relative(REPO_ROOT, p) : p);
  console.log(`wrote ${shown(json)} and ${shown(md)}${full ? '' : ' (a filtered or --quick run never replaces bench/results/latest.*)'}; total ${(report.totalMs / 1000).toFixed(0)} s`);
}

main().then(
  // Every module ran in its own process; nothing of theirs is left to wait for.
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
