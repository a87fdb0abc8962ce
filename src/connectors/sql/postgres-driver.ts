import pg from 'pg';
import type { CompiledSql } from './named-params.js';
import type { Logger } from '../../model/logger.js';
import { abortable, describeUrl, positionalValues, scrubSecrets, type SqlDriver, type SqlValue } from './sql-driver.js';

export interface PooledDriverOptions {
  url: string;
  poolMax: number;
  idleTimeoutMs: number;
  connectTimeoutMs: number;
  queryTimeoutMs: number;
  logger: Logger;
}

/**
 * PostgreSQL through a `pg` pool. An aborted query destroys its connection (release(true))
 * so the pool slot comes back at once; `statement_timeout` bounds what the server keeps
 * running after that.
 */
export function createPostgresDriver(opts: PooledDriverOptions): SqlDriver {
  const pool = new pg.Pool({
    connectionString: opts.url,
    max: opts.poolMax,
    idleTimeoutMillis: opts.idleTimeoutMs,
    connectionTimeoutMillis: opts.connectTimeoutMs,
    statement_timeout: opts.queryTimeoutMs,
    query_timeout: opts.queryTimeoutMs,
  });
  // An idle client that loses its connection emits here; without a listener it would crash the process.
  pool.on('error', (err) => {
    opts.logger.warn({ err: scrubSecrets(err.message, opts.url) }, 'postgres idle connection failed');
  });

  const withClient = async <T>(signal: AbortSignal, work: (client: pg.PoolClient) => Promise<T>): Promise<T> => {
    const connecting = pool.connect();
    let client: pg.PoolClient;
    try {
      client = await abortable(connecting, signal);
    } catch (err) {
      // The connection may still arrive after an abort: hand it back untouched.
      connecting.then((c) => c.release(), () => {});
      throw err;
    }
    let destroyed = false;
    try {
      return await abortable(work(client), signal, () => {
        destroyed = true;
        client.release(true);
      });
    } finally {
      if (!destroyed) client.release();
    }
  };

  // A named statement is parsed once per connection and then only bound and executed.
  const names = new Map<string, string>();
  const prepared = (sql: CompiledSql, values: Record<string, SqlValue>): pg.QueryConfig => {
    let name = names.get(sql.text);
    if (name === undefined) {
      name = `callpop_${names.size + 1}`;
      names.set(sql.text, name);
    }
    return { name, text: sql.text, values: positionalValues(sql, values) };
  };

  return {
    dialect: 'postgres',
    async prepare() {
      // pg prepares on first use per connection; syntax errors surface on the first query.
    },
    async all(sql, values, signal) {
      return withClient(signal, async (client) => (await client.query(prepared(sql, values))).rows);
    },
    async firstRows(sql, valueSets, signal) {
      return withClient(signal, async (client) => {
        for (const values of valueSets) {
          if (signal.aborted) break;
          const { rows } = await client.query(prepared(sql, values));
          if (rows.length > 0) return rows;
        }
        return [];
      });
    },
    async run(sql, values, signal) {
      await withClient(signal, (client) => client.query(prepared(sql, values)));
    },
    async ping(signal) {
      await withClient(signal, (client) => client.query('SELECT 1'));
    },
    describe() {
      return `postgres at ${describeUrl(opts.url)}`;
    },
    async close() {
      await pool.end();
    },
  };
}
