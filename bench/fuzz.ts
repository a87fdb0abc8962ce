import { fileURLToPath } from 'node:url';
import { prng } from '../test/helpers/prng.js';
import { runFuzz, type FuzzReport } from './fuzz/run-fuzz.js';

/**
 * `npm run fuzz [-- --count N --time SECONDS --seed S]`: mutated real captures through
 * the AMI and ESL codecs, both normalisers, the call tracker and the hub's client message
 * parsing (docs/fuzzing.md). Exits 1 when an exception escaped, so CI can run it.
 */

function flag(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  if (at < 0) return fallback;
  const value = Number(process.argv[at + 1]);
  if (!Number.isFinite(value) || value < 0) {
    console.error(`--${name} needs a number`);
    process.exit(2);
  }
  return value;
}

const count = flag('count', 2_000_000);
const timeMs = flag('time', 150) * 1000;
const seed = flag('seed', Date.now() % 2 ** 31);
const fixturesDir = fileURLToPath(new URL('../../test/fixtures', import.meta.url));

console.log(`fuzz: seed ${seed}, up to ${count} inputs or ${timeMs / 1000} s`);
const report: FuzzReport = runFuzz({ seed, count, timeMs, fixturesDir }, prng(seed));
const mb = (n: number): string => `${(n / 1024 / 1024).toFixed(0)} MB`;
console.log(`inputs tried        ${report.inputs} (${Object.entries(report.byTarget).map(([t, n]) => `${t} ${n}`).join(', ')}) in ${(report.elapsedMs / 1000).toFixed(1)} s`);
console.log(`exceptions escaped  ${report.escaped}`);
for (const e of report.escapes) console.log(`  ${e.target} #${e.index}: ${e.error}`);
console.log(`ESL protocol errors ${report.eslProtocolErrors} (CALLPOP_ESL_FRAME: the link resets and resyncs)`);
console.log(`hub: unknown types accepted ${report.hubAcceptedUnknownTypes}${report.hubUnknownTypeExamples.length ? ` e.g. ${report.hubUnknownTypeExamples.join(' ')}` : ''}`);
console.log(`peak memory         rss ${mb(report.peakRssBytes)}, heap ${mb(report.peakHeapBytes)}`);
process.exit(report.escaped > 0 ? 1 : 0);
