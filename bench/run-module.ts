import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchOptions, BenchResult } from './bench-result.js';

/**
 * Child process entry of `bench/run.ts`: runs one benchmark module in a fresh Node process
 * and sends its results back over IPC. A fresh process per module keeps one module's heap
 * and JIT state out of the next one's figures: run in one process after ingest-ami, the
 * ESL ingest ratio fell from ~0.8 to ~0.66, because the call tracker had been optimised
 * for Asterisk-shaped events and the heap was larger.
 *
 * usage: node dist/bench/run-module.js <name> <quick: true|false> <budgetMs>
 */

export type ModuleOutcome =
  | { status: 'ok'; results: unknown[] }
  | { status: 'not available'; message: string }
  | { status: 'failed'; message: string };

type Runnable = { run: (options?: BenchOptions) => Promise<unknown> };

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));

async function load(name: string): Promise<Runnable | string> {
  const file = join(BENCH_DIR, `${name}.js`);
  try {
    const mod = (await import(file)) as Partial<Runnable>;
    if (typeof mod.run !== 'function') return `bench/${name}.ts does not export run()`;
    return mod as Runnable;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ERR_MODULE_NOT_FOUND' && e.message.includes(file)) return `bench/${name}.ts does not exist yet`;
    return `cannot load bench/${name}.ts: ${e.message.split('\n')[0]}`;
  }
}

async function outcome(name: string, options: BenchOptions): Promise<ModuleOutcome> {
  const mod = await load(name);
  if (typeof mod === 'string') return { status: 'not available', message: mod };
  try {
    const results = await mod.run(options);
    return { status: 'ok', results: Array.isArray(results) ? (results as BenchResult[]) : [] };
  } catch (err) {
    return { status: 'failed', message: String((err as Error)?.message ?? err).split('\n')[0] ?? '' };
  }
}

const [name = '', quick = 'false', budget = '0'] = process.argv.slice(2);
const result = await outcome(name, { quick: quick === 'true', budgetMs: Number(budget) });
// A module may leave handles behind (sockets, timers): the results are what counts.
process.send?.(result, () => process.exit(0));
if (!process.send) {
  console.log(JSON.stringify(result));
  process.exit(0);
}
