import type { CustomerMatch, CustomerRecord } from '../model/customer.js';
import type { Logger } from '../model/logger.js';
import type { CallRecord } from '../model/call-record.js';
import type { HealthStatus } from '../model/health.js';

// Re-exported so a connector author finds every type `Connector` mentions in one place.
export type { CallRecord } from '../model/call-record.js';
export type { HealthStatus } from '../model/health.js';

/**
 * The public contract for CRM connectors. Built-in connectors use exactly this contract,
 * with no private shortcuts, so an integrator's connector is a peer of the built-ins.
 * See docs/connectors.md.
 */

/** What a lookup asks for. */
export interface LookupQuery {
  /** The number as the PBX gave it (untrusted text). */
  number: string;
  /**
   * Candidate forms of the number, best first: E.164 (`+4930123456`), national
   * (`030123456`), national without trunk prefix (`30123456`), digits only
   * (`4930123456`). A connector binds them as parameters, never concatenates them.
   */
  candidates: string[];
  /** The last N digits, when the config enables suffix matching (`lookup.match_last_digits`). */
  lastDigits?: string;
  /** For enrichment in `merge` mode: fields already known from higher-priority sources. */
  known?: CustomerRecord;
}

/** One live connector instance, made by `ConnectorDefinition.create` for one `connectors[]` block. */
export interface Connector {
  /**
   * Finds customers for a number. A miss is an empty array, never an exception. Throws
   * only on a real failure (unreachable CRM, bad credentials, malformed answer).
   * Must stop work and reject promptly when `signal` aborts.
   */
  lookup(query: LookupQuery, signal: AbortSignal): Promise<CustomerMatch[]>;
  /** Recent interactions for a customer found earlier (optional). */
  history?(customer: CustomerMatch, signal: AbortSignal): Promise<CustomerRecord[]>;
  /** Writes a finished call back to the CRM (optional). Must be idempotent on `callId`. */
  logCall?(record: CallRecord, signal: AbortSignal): Promise<void>;
  /** Proves the connection works; used by `callpop check` and /healthz. */
  health(signal: AbortSignal): Promise<HealthStatus>;
  /** Releases pools and files. Called once on shutdown or reload. */
  close(): Promise<void>;
}

/** What the daemon hands a connector when it creates it. No globals. */
export interface ConnectorContext {
  /** The instance name from the config (`connectors[].name`). */
  name: string;
  /** A pino child logger; bind your own fields with `child`, never log secrets. */
  logger: Logger;
  /** Directory of the config file, for resolving relative paths (e.g. an SQLite file). */
  baseDir: string;
}

/**
 * A connector type: what an external module default-exports and what `builtinConnectors` lists.
 * `C` is the config block after ajv applied the schema defaults (frozen).
 */
export interface ConnectorDefinition<C = unknown> {
  /** The `type:` value in the config that selects this connector. */
  type: string;
  /** JSON Schema of the connector's own config block, checked by ajv before `create`. */
  configSchema: object;
  /** Makes an instance. A throw here is reported as `CALLPOP_CONNECTOR_FAILED` naming the block. */
  create(config: C, ctx: ConnectorContext): Connector | Promise<Connector>;
}

/** Identity helper that gives a connector definition its types. */
export function defineConnector<C>(definition: ConnectorDefinition<C>): ConnectorDefinition<C> {
  return definition;
}
