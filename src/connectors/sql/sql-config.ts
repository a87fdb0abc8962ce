import type { SqlDialect } from './named-params.js';

/**
 * Config block of a `type: sql` connector (config.example.yaml). The registry
 * validates the block without its common keys (`name`, `type`, `module`) against this
 * schema with `useDefaults`, so every default lives here.
 */
export const sqlConfigSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['lookup_query'],
  properties: {
    driver: { enum: ['sqlite', 'postgres', 'mysql'], default: 'sqlite' },
    file: { type: 'string', minLength: 1 },
    url: { type: 'string', minLength: 1, writeOnly: true },
    readonly: { type: 'boolean', default: false },
    pool: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        max: { type: 'integer', minimum: 1, maximum: 1000, default: 10 },
        idle_timeout_ms: { type: 'integer', minimum: 0, default: 30000 },
      },
    },
    connect_timeout_ms: { type: 'integer', minimum: 1, default: 5000 },
    query_timeout_ms: { type: 'integer', minimum: 1, default: 5000 },
    busy_timeout_ms: { type: 'integer', minimum: 0, default: 1000 },
    id_field: { type: 'string', minLength: 1, default: 'id' },
    max_rows: { type: 'integer', minimum: 1, maximum: 1000, default: 20 },
    lookup_query: { type: 'string', minLength: 1 },
    history_query: { type: 'string', minLength: 1 },
    log_call_query: { type: 'string', minLength: 1 },
  },
  // Written so that they hold whether or not the `driver` default was applied first, and say
  // nothing about file/url when the driver itself is wrong.
  allOf: [
    { if: { required: ['driver'], properties: { driver: { enum: ['postgres', 'mysql'] } } }, then: { required: ['url'] } },
    { if: { properties: { driver: { const: 'sqlite' } } }, then: { required: ['file'] } },
  ],
} as const;

export interface SqlConnectorConfig {
  driver: SqlDialect;
  /** sqlite: database file, relative to the config file's directory. */
  file?: string;
  /** postgres/mysql: connection URL; may hold a password, so it is never logged. */
  url?: string;
  readonly: boolean;
  pool: { max: number; idle_timeout_ms: number };
  connect_timeout_ms: number;
  query_timeout_ms: number;
  busy_timeout_ms: number;
  id_field: string;
  max_rows: number;
  lookup_query: string;
  history_query?: string;
  log_call_query?: string;
}

/** Parameters a `log_call_query` may use, taken from the finished call (CallRecord). */
export const LOG_CALL_PARAMS = [
  'call_id',
  'pbx_id',
  'direction',
  'number',
  'name',
  'agent',
  'queue',
  'outcome',
  'started_at',
  'answered_at',
  'ended_at',
  'started_at_iso',
  'answered_at_iso',
  'ended_at_iso',
  'duration_s',
  'customer_source',
  'customer_id',
] as const;
