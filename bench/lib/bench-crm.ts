import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { createSampleCrm, SAMPLE_LOG_CALL_QUERY, SAMPLE_LOOKUP_QUERY } from '../../src/sim/sample-crm.js';

/**
 * The CRM the benchmarks look callers up in: the sample CRM's schema (so the sample lookup
 * query works unchanged) with `count` generated customers, phone indexed, numbers in E.164.
 * Customer i has phone `customerNumber(i)`, a valid Berlin number.
 */

export const BENCH_CUSTOMERS = 100_000;

export function customerNumber(i: number): string {
  return `+4930${String(2_000_000 + (i % BENCH_CUSTOMERS))}`;
}

/** Creates `crm.sqlite` in `dir` and returns the `connectors[]` block for it. */
export function createSqliteCrm(dir: string, count = BENCH_CUSTOMERS): Record<string, unknown> {
  const file = join(dir, 'crm.sqlite');
  createSampleCrm(file);
  const db = new Database(file);
  try {
    db.pragma('journal_mode = WAL');
    const insert = db.prepare('INSERT OR REPLACE INTO customers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
    db.transaction(() => {
      for (let i = 0; i < count; i++) {
        insert.run(`B-${i}`, `First${i}`, `Last${i}`, `Company ${i % 997}`, customerNumber(i), `c${i}@example.com`, i % 10 === 0 ? 'VIP' : 'Standard', 'Berlin', '');
      }
    })();
    db.exec('ANALYZE');
  } finally {
    db.close();
  }
  return { name: 'crm', type: 'sql', driver: 'sqlite', file: 'crm.sqlite', id_field: 'id', lookup_query: SAMPLE_LOOKUP_QUERY, log_call_query: SAMPLE_LOG_CALL_QUERY };
}

/** Loads the same customers into a PostgreSQL server and returns the `connectors[]` block. */
export async function createPostgresCrm(url: string, count = BENCH_CUSTOMERS): Promise<Record<string, unknown>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`CREATE TABLE customers (
      id TEXT PRIMARY KEY, first_name TEXT, last_name TEXT, company TEXT, phone TEXT NOT NULL,
      email TEXT, tier TEXT, city TEXT, notes TEXT)`);
    await client.query(
      `INSERT INTO customers
       SELECT 'B-' || i, 'First' || i, 'Last' || i, 'Company ' || (i % 997), '+4930' || (2000000 + i), 'c' || i || '@example.com',
              CASE WHEN i % 10 = 0 THEN 'VIP' ELSE 'Standard' END, 'Berlin', ''
       FROM generate_series(0, $1::int - 1) AS i`,
      [count],
    );
    await client.query('CREATE INDEX customers_phone ON customers (phone)');
    await client.query('ANALYZE customers');
  } finally {
    await client.end();
  }
  // The sample query uses :number named parameters, which the sql connector maps to $1 for pg.
  return { name: 'crm', type: 'sql', driver: 'postgres', url, id_field: 'id', lookup_query: SAMPLE_LOOKUP_QUERY };
}
