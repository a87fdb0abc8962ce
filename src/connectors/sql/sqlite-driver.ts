import Database from 'better-sqlite3';
import type { CompiledSql } from './named-params.js';
import { abortReason, type SqlDriver, type SqlValue } from './sql-driver.js';

export interface SqliteDriverOptions {
  /** Absolute path of the database file. */
  path: string;
  /** Path as written in the config, for messages. */
  displayPath: string;
  readonly: boolean;
  busyTimeoutMs: number;
}

/**
 * better-sqlite3 is synchronous: a query cannot be interrupted once started, so the signal
 * is checked before each one. Indexed lookups on a local file take microseconds
 * (bench/lookup.ts), well below any sensible source timeout.
 */
export function createSqliteDriver(opts: SqliteDriverOptions): SqlDriver {
  // fileMustExist: a typo in `file:` must be an error, not a silently created empty CRM.
  const db = new Database(opts.path, { fileMustExist: true, readonly: opts.readonly, timeout: opts.busyTimeoutMs });
  const statements = new Map<string, Database.Statement>();

  const statement = (sql: CompiledSql): Database.Statement => {
    let stmt = statements.get(sql.text);
    if (!stmt) {
      stmt = db.prepare(sql.text);
      statements.set(sql.text, stmt);
    }
    return stmt;
  };
  // better-sqlite3 binds exactly the named parameters the statement uses; none means no argument.
  const bind = (sql: CompiledSql, values: Record<string, SqlValue>): [Record<string, SqlValue>] | [] => {
    if (sql.names.length === 0) return [];
    const out: Record<string, SqlValue> = {};
    for (const name of sql.names) out[name] = values[name] ?? null;
    return [out];
  };

  return {
    dialect: 'sqlite',
    async prepare(sql) {
      statement(sql);
    },
    async all(sql, values, signal) {
      if (signal.aborted) throw abortReason(signal);
      return statement(sql).all(...bind(sql, values));
    },
    async firstRows(sql, valueSets, signal) {
      const stmt = statement(sql);
      for (const values of valueSets) {
        if (signal.aborted) throw abortReason(signal);
        const rows = stmt.all(...bind(sql, values));
        if (rows.length > 0) return rows;
      }
      return [];
    },
    async run(sql, values, signal) {
      if (signal.aborted) throw abortReason(signal);
      statement(sql).run(...bind(sql, values));
    },
    async ping(signal) {
      if (signal.aborted) throw abortReason(signal);
      db.prepare('SELECT 1').get();
    },
    describe() {
      return `sqlite file ${opts.displayPath}`;
    },
    async close() {
      if (db.open) db.close();
    },
  };
}
