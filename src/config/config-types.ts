import type { LookupConfig } from '../lookup/lookup-config.js';
import type { MappingConfig } from '../mapping/mapping-config.js';
import type { HubConfig } from '../hub/hub-config.js';

export type { HubConfig, HubToken } from '../hub/hub-config.js';

export interface StoreConfig {
  /** SQLite file for the call log and outbox, relative to the config file; `:memory:` for tests. */
  file: string;
  keep_days: number;
  writeback: {
    connectors: string[];
    retry_initial_ms: number;
    retry_max_ms: number;
    timeout_ms: number;
  };
}

/** One `pbx[]` entry: common keys; the adapter's own schema validated the rest. */
export interface PbxEntry {
  id: string;
  /** A type registered in src/pbx/pbx-registry.ts (the schema's enum is built from it). */
  type: string;
  [key: string]: unknown;
}

export interface ConnectorBlock {
  name: string;
  type: string;
  [key: string]: unknown;
}

export interface Config {
  /** The file it came from (for messages) and its directory (for relative paths). */
  file: string;
  baseDir: string;
  log: { level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'silent' };
  pbx: PbxEntry[];
  connectors: ConnectorBlock[];
  lookup: LookupConfig;
  mapping: MappingConfig;
  hub: HubConfig;
  store: StoreConfig;
  /**
   * Things the admin should hear about that do not stop callpop (a group- or world-readable
   * file holding inline secrets). Secret-free; `callpop run` logs each at warn on start and
   * reload, `callpop check` prints them.
   */
  warnings: readonly string[];
}
