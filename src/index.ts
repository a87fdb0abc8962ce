/**
 * callpop's public API: what a CRM connector author or an embedder imports from `callpop`.
 * Everything here is either a type or dependency-free code, so importing the package loads
 * no database driver, native module or network client (docs/connectors.md).
 * The conformance kit lives apart, in `callpop/testing`, because it needs mocha's globals.
 */

/**
 * Gives a connector definition its types: `export default defineConnector<MyConfig>({ type,
 * configSchema, create })`. An identity function at runtime.
 */
export { defineConnector } from './connectors/contract.js';

export type {
  /** What a connector instance does: `lookup`, optional `history` and `logCall`, `health`, `close`. */
  Connector,
  /** A connector type: its `type:` name, the JSON Schema of its config block, and `create`. */
  ConnectorDefinition,
  /** What callpop hands `create`: the instance name, a logger, the config file's directory. */
  ConnectorContext,
  /** What a lookup asks for: the raw number and its candidate forms, best first. */
  LookupQuery,
} from './connectors/contract.js';

/** A finished call, as `Connector.logCall` receives it for write-back. */
export type { CallRecord, Wrapup } from './model/call-record.js';

/** What `Connector.health` resolves: `{ ok, detail }`, the detail free of secrets. */
export type { HealthStatus } from './model/health.js';

export type {
  /** One customer found by one source: `{ source, id?, record }`. */
  CustomerMatch,
  /** A CRM row or object as JSON-like data. */
  CustomerRecord,
  /** A JSON-like value: string, number, boolean, null, arrays and objects of them. */
  FieldValue,
  /** The merged outcome of a lookup across sources, as the pop stage receives it. */
  LookupResult,
} from './model/customer.js';

/** The slice of pino callpop hands connectors (`ctx.logger`); `silentLogger` discards everything. */
export { silentLogger, type Logger } from './model/logger.js';

/**
 * Errors with stable codes. A connector throws `CallpopError('CALLPOP_CONNECTOR_FAILED', ...)`
 * on a real failure (never on a miss); `isCallpopError` tells them apart from other errors.
 */
export { CallpopError, isCallpopError, describeError, type CallpopErrorCode } from './model/errors.js';
