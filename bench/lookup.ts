import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import type { Connector } from '../src/connectors/contract.js';
import { ConnectorRegistry } from '../src/connectors/registry.js';
import type { LookupService } from '../src/lookup/lookup-api.js';
import { parseLookupConfig } from '../src/lookup/lookup-config.js';
import { createLookupService } from '../src/lookup/lookup-service.js';
import { silentLogger } from '../src/model/logger.js';
import { pgUnavailableReason, startPgServer } from '../test/helpers/pg-server.js';
import type { BenchResult } from './bench-result.js';

/**
 * Pop-ready latency of the lookup stage: time from `lookup()` to the resolved result, one
 * lookup at a time, for a cache hit, a miss on a local indexed SQLite table and (when the
 * server can be started here) a miss on a local indexed PostgreSQL table. A miss runs one
 * query per candidate (4 for a German number), the worst case for `:number` lookups.
 */

const LOOKUPS = 10_000;
/** Each scenario stops early past this, so the whole run stays well under 40 s. */
const SCENARIO_BUDGET_MS = 9_000;
const CUSTOMERS = 20_000;
const QUERY = 'SELECT id, first_name, last_name, phone, email FROM customers WHERE phone = :number';

export async function run(): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'callpop-bench-lookup-'));
  const registry = new ConnectorRegistry();
  try {
    const file = join(dir, 'crm.sqlite');
    const db = new Database(file);
    db.exec('CREATE TABLE customers (id INTEGER PRIMARY KEY, first_name TEXT, last_name TEXT, phone TEXT, email TEXT)');
    db.exec('CREATE INDEX customers_phone ON customers (phone)');
    const insert = db.prepare('INSERT INTO customers (first_name, last_name, phone, email) VALUES (?, ?, ?, ?)');
    db.transaction(() => {
      for (let i = 0; i < CUSTOMERS; i++) insert.run(`First${i}`, `Last${i}`, `+4930${String(1_000_000 + i)}`, `c${i}@example.com`);
    })();
    db.close();

    const sqlite = await registry.create({ name: 'crm', type: 'sql', file: 'crm.sqlite', lookup_query: QUERY }, { name: 'crm', logger: silentLogger, baseDir: dir });
    try {
      const hit = service(sqlite, true);
      await hit.lookup('+49301000042');
      results.push(...summarise('lookup cache hit', await measure(() => hit.lookup('030 1000042')), '< 1 ms p99'));
      await hit.close();

      const miss = service(sqlite, false);
      let n = 0;
      results.push(...summarise('lookup SQLite miss (indexed, 4 candidates)', await measure(() => miss.lookup(`+4940${String(2_000_000 + (n++ % 100_000))}`)), '< 5 ms p99'));
      await miss.close();
    } finally {
      await sqlite.close();
    }

    results.push(...(await postgresMiss(registry)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return results;
}

async function postgresMiss(registry: ConnectorRegistry): Promise<BenchResult[]> {
  const reason = pgUnavailableReason();
  if (reason) return [{ name: 'lookup PostgreSQL miss p99', value: Number.NaN, unit: 'ms', notes: `skipped: ${reason}` }];
  let server: Awaited<ReturnType<typeof startPgServer>> | undefined;
  try {
    server = await startPgServer();
    const client = new pg.Client({ connectionString: server.url });
    await client.connect();
    await client.query('CREATE TABLE customers (id SERIAL PRIMARY KEY, first_name TEXT, last_name TEXT, phone TEXT, email TEXT)');
    await client.query(
      `INSERT INTO customers (first_name, last_name, phone, email)
       SELECT 'First' || i, 'Last' || i, '+4930' || (1000000 + i), 'c' || i || '@example.com' FROM generate_series(0, $1) AS i`,
      [CUSTOMERS - 1],
    );
    await client.query('CREATE INDEX customers_phone ON customers (phone)');
    await client.query('ANALYZE customers');
    await client.end();
    const connector = await registry.create(
      { name: 'crm', type: 'sql', driver: 'postgres', url: server.url, lookup_query: QUERY },
      { name: 'crm', logger: silentLogger, baseDir: tmpdir() },
    );
    try {
      const miss = service(connector, false);
      let n = 0;
      const out = summarise('lookup PostgreSQL miss (indexed, 4 candidates, loopback)', await measure(() => miss.lookup(`+4940${String(2_000_000 + (n++ % 100_000))}`)), '< 5 ms p99');
      await miss.close();
      return out;
    } finally {
      await connector.close();
    }
  } catch (err) {
    return [{ name: 'lookup PostgreSQL miss p99', value: Number.NaN, unit: 'ms', notes: `skipped: ${String(err).slice(0, 200)}` }];
  } finally {
    await server?.stop();
  }
}

function service(connector: Connector, cache: boolean): LookupService {
  return createLookupService(parseLookupConfig({ default_region: 'DE', cache: { enabled: cache } }), new Map([['crm', connector]]), {
    logger: silentLogger,
  });
}

async function measure(lookup: () => Promise<unknown>): Promise<{ samples: number[]; elapsedMs: number }> {
  for (let i = 0; i < 200; i++) await lookup(); // warm-up: JIT, prepared statements, pool
  const samples: number[] = [];
  const start = performance.now();
  while (samples.length < LOOKUPS && performance.now() - start < SCENARIO_BUDGET_MS) {
    const t0 = performance.now();
    await lookup();
    samples.push(performance.now() - t0);
  }
  return { samples, elapsedMs: performance.now() - start };
}

function summarise(name: string, m: { samples: number[]; elapsedMs: number }, target: string): BenchResult[] {
  const sorted = [...m.samples].sort((a, b) => a - b);
  const pct = (p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
  const notes = `${sorted.length} lookups in ${Math.round(m.elapsedMs)} ms`;
  const round = (v: number): number => Math.round(v * 1000) / 1000;
  return [
    { name: `${name} p50`, value: round(pct(50)), unit: 'ms', notes },
    { name: `${name} p99`, value: round(pct(99)), unit: 'ms', target, notes },
  ];
}
