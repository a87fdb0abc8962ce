import mysql from 'mysql2/promise';
import { abortable, describeUrl, positionalValues, scrubSecrets, type SqlDriver } from './sql-driver.js';
import type { PooledDriverOptions } from './postgres-driver.js';

/**
 * MySQL and MariaDB through a `mysql2` pool. Statements go through `execute` (server-side
 * prepared statements), so values are bound by the server, never escaped into the text.
 * An aborted query destroys its connection so the pool slot comes back at once.
 */
export function createMysqlDriver(opts: PooledDriverOptions): SqlDriver {
  const pool = mysql.createPool({
    uri: opts.url,
    connectionLimit: opts.poolMax,
    maxIdle: opts.poolMax,
    idleTimeout: opts.idleTimeoutMs,
    connectTimeout: opts.connectTimeoutMs,
    supportBigNumbers: true,
    // Prepared statements are cached per connection; the connector has at most three.
    maxPreparedStatements: 64,
  });
  pool.on('connection', (conn) => {
    // mysql2 re-emits errors of idle connections on the connection object.
    conn.on('error', (err: Error) => {
      opts.logger.warn({ err: scrubSecrets(err.message, opts.url) }, 'mysql idle connection failed');
    });
  });

  const withConnection = async <T>(signal: AbortSignal, work: (conn: mysql.PoolConnection) => Promise<T>): Promise<T> => {
    const connecting = pool.getConnection();
    let conn: mysql.PoolConnection;
    try {
      conn = await abortable(connecting, signal);
    } catch (err) {
      connecting.then((c) => c.release(), () => {});
      throw err;
    }
    let destroyed = false;
    try {
      return await abortable(work(conn), signal, () => {
        destroyed = true;
        conn.destroy();
      });
    } finally {
      if (!destroyed) conn.release();
    }
  };

  return {
    dialect: 'mysql',
    async prepare() {
      // Prepared per connection on first use.
    },
    async all(sql, values, signal) {
      return withConnection(signal, async (conn) => {
        const [rows] = await conn.execute({ sql: sql.text, timeout: opts.queryTimeoutMs }, positionalValues(sql, values));
        return Array.isArray(rows) ? (rows as unknown[]) : [];
      });
    },
    async firstRows(sql, valueSets, signal) {
      return withConnection(signal, async (conn) => {
        for (const values of valueSets) {
          if (signal.aborted) break;
          const [rows] = await conn.execute({ sql: sql.text, timeout: opts.queryTimeoutMs }, positionalValues(sql, values));
          if (Array.isArray(rows) && rows.length > 0) return rows as unknown[];
        }
        return [];
      });
    },
    async run(sql, values, signal) {
      await withConnection(signal, (conn) =>
        conn.execute({ sql: sql.text, timeout: opts.queryTimeoutMs }, positionalValues(sql, values)),
      );
    },
    async ping(signal) {
      await withConnection(signal, (conn) => conn.query('SELECT 1'));
    },
    describe() {
      return `mysql at ${describeUrl(opts.url)}`;
    },
    async close() {
      await pool.end();
    },
  };
}
