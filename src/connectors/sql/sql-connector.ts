import { isAbsolute, resolve } from 'node:path';
import type { CustomerMatch, CustomerRecord, FieldValue } from '../../model/customer.js';
import { CallpopError, describeError } from '../../model/errors.js';
import type { Logger } from '../../model/logger.js';
import { defineConnector, type CallRecord, type Connector, type ConnectorContext, type LookupQuery } from '../contract.js';
import { compileNamedSql, type CompiledSql } from './named-params.js';
import { rowToRecord, recordId } from './row-record.js';
import { LOG_CALL_PARAMS, sqlConfigSchema, type SqlConnectorConfig } from './sql-config.js';
import { scrubSecrets, type SqlDriver, type SqlValue } from './sql-driver.js';
import { createMysqlDriver } from './mysql-driver.js';
import { createPostgresDriver } from './postgres-driver.js';
import { createSqliteDriver } from './sqlite-driver.js';

/**
 * The `sql` connector: one implementation, three drivers (SQLite default, PostgreSQL,
 * MySQL/MariaDB). Statements come from the config with `:name` parameters
 * (docs/connectors.md "sql"); values are always bound, never put into the SQL text.
 *
 * Lookup parameters: `:number` (each candidate in turn, best first, until one returns rows),
 * `:raw` (the number as the PBX gave it), `:last_digits`, and any field of `query.known`
 * by its name (`:email`, `:id`, ... for enrichment). A statement that needs a value the
 * query does not have is not run: that is a miss.
 */
export const sqlConnector = defineConnector<SqlConnectorConfig>({
  type: 'sql',
  configSchema: sqlConfigSchema,
  create: createSqlConnector,
});

const LOOKUP_RESERVED = new Set(['number', 'raw', 'last_digits']);

export async function createSqlConnector(config: SqlConnectorConfig, ctx: ConnectorContext): Promise<Connector> {
  const log = ctx.logger.child({ connector: ctx.name, driver: config.driver });
  const fail = (what: string, err: unknown): CallpopError =>
    new CallpopError('CALLPOP_CONNECTOR_FAILED', `sql source '${ctx.name}': ${what}: ${scrubSecrets(describeError(err), config.url)}`);

  const lookupSql = compileNamedSql(config.lookup_query, config.driver);
  const historySql = config.history_query ? compileNamedSql(config.history_query, config.driver) : undefined;
  const logCallSql = config.log_call_query ? compileNamedSql(config.log_call_query, config.driver) : undefined;
  const unknownLogParams = logCallSql?.names.filter((n) => !(LOG_CALL_PARAMS as readonly string[]).includes(n)) ?? [];
  if (unknownLogParams.length > 0) {
    throw new CallpopError(
      'CALLPOP_CONNECTOR_CONFIG',
      `connector '${ctx.name}': log_call_query uses unknown parameter(s) ${unknownLogParams.map((n) => `:${n}`).join(', ')}; available: ${LOG_CALL_PARAMS.map((n) => `:${n}`).join(', ')}`,
    );
  }

  let driver: SqlDriver;
  try {
    driver = openDriver(config, ctx, log);
  } catch (err) {
    // For SQLite, name the file (not a secret): "unable to open database file" alone does not say which.
    const where = config.driver === 'sqlite' && config.file ? ` ${isAbsolute(config.file) ? config.file : resolve(ctx.baseDir, config.file)}` : '';
    throw fail(`cannot open the database${where}`, err);
  }
  for (const [key, sql] of [
    ['lookup_query', lookupSql],
    ['history_query', historySql],
    ['log_call_query', logCallSql],
  ] as const) {
    if (!sql) continue;
    try {
      await driver.prepare(sql);
    } catch (err) {
      await driver.close().catch(() => {});
      throw new CallpopError('CALLPOP_CONNECTOR_CONFIG', `connector '${ctx.name}': ${key} is not valid SQL: ${describeError(err)}`);
    }
  }

  const run = async (sql: CompiledSql, values: Record<string, SqlValue>, signal: AbortSignal): Promise<unknown[]> => {
    try {
      return await driver.all(sql, values, signal);
    } catch (err) {
      if (signal.aborted) throw err;
      throw fail('query failed', err);
    }
  };

  const toRecords = (rows: unknown[]): CustomerRecord[] => {
    if (rows.length > config.max_rows) {
      log.warn({ rows: rows.length, max_rows: config.max_rows }, 'query returned more rows than max_rows; extra rows ignored');
    }
    const records: CustomerRecord[] = [];
    for (const row of rows.slice(0, config.max_rows)) {
      const coerced = rowToRecord(row);
      if (!coerced) {
        log.warn({ rowType: Array.isArray(row) ? 'array' : typeof row }, 'malformed row skipped: not an object');
        continue;
      }
      if (coerced.problems.length > 0) {
        log.warn({ fields: coerced.problems }, 'malformed row: fields with unsupported values dropped');
      }
      records.push(coerced.record);
    }
    return records;
  };

  const connector: Connector = {
    async lookup(query: LookupQuery, signal: AbortSignal): Promise<CustomerMatch[]> {
      const values: Record<string, SqlValue> = { raw: query.number };
      for (const name of lookupSql.names) {
        if (name === 'raw' || name === 'number') continue;
        const value = name === 'last_digits' ? query.lastDigits : LOOKUP_RESERVED.has(name) ? undefined : bindable(query.known?.[name]);
        if (value === undefined || value === null) {
          log.debug({ param: name }, 'lookup skipped: parameter has no value');
          return [];
        }
        values[name] = value;
      }
      const valueSets = lookupSql.names.includes('number')
        ? query.candidates.map((number) => ({ ...values, number }))
        : [values];
      if (valueSets.length === 0) return [];
      let rows: unknown[];
      try {
        rows = await driver.firstRows(lookupSql, valueSets, signal);
      } catch (err) {
        if (signal.aborted) throw signal.reason;
        throw fail('query failed', err);
      }
      if (signal.aborted) throw signal.reason;
      return toRecords(rows).map((record) => toMatch(record));
    },

    async health(signal: AbortSignal) {
      try {
        await driver.ping(signal);
        return { ok: true, detail: `connected to ${driver.describe()}` };
      } catch (err) {
        if (signal.aborted) throw err;
        return { ok: false, detail: `${driver.describe()}: ${scrubSecrets(describeError(err), config.url)}` };
      }
    },

    async close() {
      await driver.close();
    },
  };

  const toMatch = (record: CustomerRecord): CustomerMatch => {
    const id = recordId(record, config.id_field);
    if (id === undefined) log.warn({ id_field: config.id_field }, 'row has no usable id; match kept without id');
    return id === undefined ? { source: ctx.name, record } : { source: ctx.name, id, record };
  };

  if (historySql) {
    connector.history = async (customer, signal) => {
      const values: Record<string, SqlValue> = {};
      for (const name of historySql.names) {
        const value = name === 'id' && customer.id !== undefined ? customer.id : bindable(customer.record[name]);
        if (value === undefined || value === null) return [];
        values[name] = value;
      }
      return toRecords(await run(historySql, values, signal));
    };
  }

  if (logCallSql) {
    connector.logCall = async (record: CallRecord, signal) => {
      try {
        await driver.run(logCallSql, callValues(record), signal);
      } catch (err) {
        if (signal.aborted) throw err;
        throw fail('log_call_query failed', err);
      }
    };
  }

  log.debug({ db: driver.describe() }, 'sql connector ready');
  return connector;
}

function openDriver(config: SqlConnectorConfig, ctx: ConnectorContext, logger: Logger): SqlDriver {
  if (config.driver === 'sqlite') {
    const file = config.file ?? '';
    return createSqliteDriver({
      path: isAbsolute(file) ? file : resolve(ctx.baseDir, file),
      displayPath: file,
      readonly: config.readonly,
      busyTimeoutMs: config.busy_timeout_ms,
    });
  }
  const options = {
    url: config.url ?? '',
    poolMax: config.pool.max,
    idleTimeoutMs: config.pool.idle_timeout_ms,
    connectTimeoutMs: config.connect_timeout_ms,
    queryTimeoutMs: config.query_timeout_ms,
    logger,
  };
  return config.driver === 'postgres' ? createPostgresDriver(options) : createMysqlDriver(options);
}

/** A record field as a bound value: scalars only; objects and arrays are not bindable. */
function bindable(value: FieldValue | undefined): SqlValue | undefined {
  if (typeof value === 'string' || typeof value === 'number') return value;
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (value === null) return null;
  return undefined;
}

function callValues(r: CallRecord): Record<string, SqlValue> {
  const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
  return {
    call_id: r.callId,
    pbx_id: r.pbxId,
    direction: r.direction,
    number: r.number,
    name: r.name,
    agent: r.agent,
    queue: r.queue,
    outcome: r.outcome,
    started_at: r.startedAt,
    answered_at: r.answeredAt,
    ended_at: r.endedAt,
    started_at_iso: iso(r.startedAt),
    answered_at_iso: iso(r.answeredAt),
    ended_at_iso: iso(r.endedAt),
    duration_s: r.answeredAt === null ? 0 : Math.max(0, Math.round((r.endedAt - r.answeredAt) / 1000)),
    customer_source: r.customer?.source ?? null,
    customer_id: r.customer?.id ?? null,
  };
}
