import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Config } from '../../src/config/config-types.js';
import { validateConfig } from '../../src/config/load-config.js';
import type { ConnectorRegistry } from '../../src/connectors/registry.js';
import { Daemon } from '../../src/daemon.js';
import { silentLogger, type Logger } from '../../src/model/logger.js';
import { createSampleCrm, SAMPLE_LOG_CALL_QUERY, SAMPLE_LOOKUP_QUERY } from '../../src/sim/sample-crm.js';
import { TestAgentClient } from './ws-client.js';

export const AGENT_TOKEN = 'e2e-agent-token';

export interface HarnessOptions {
  /** One `pbx[]` entry pointing at a simulator, or several. */
  pbx: Record<string, unknown> | Record<string, unknown>[];
  /** Connector blocks instead of the sample SQLite CRM (their types registered in `registry`). */
  connectors?: Record<string, unknown>[];
  registry?: ConnectorRegistry;
  mapping?: Record<string, unknown>;
  lookup?: Record<string, unknown>;
  logger?: Logger;
}

/** A daemon wired to a fresh sample SQLite CRM in a temp dir, with its hub on a free port. */
export class DaemonHarness {
  private constructor(
    readonly daemon: Daemon,
    readonly dir: string,
    readonly wsUrl: string,
    readonly port: number,
  ) {}

  static async start(options: HarnessOptions): Promise<DaemonHarness> {
    const dir = await mkdtemp(join(tmpdir(), 'callpop-e2e-'));
    createSampleCrm(join(dir, 'crm.sqlite'));
    const config = await harnessConfig(dir, options);
    const daemon = await Daemon.create(config, { logger: options.logger ?? silentLogger, ...(options.registry ? { connectors: options.registry } : {}) });
    const { port } = await daemon.start();
    return new DaemonHarness(daemon, dir, `ws://127.0.0.1:${port}/ws`, port);
  }

  /** A validated config for this harness's directory, e.g. to `reload` with. */
  config(options: HarnessOptions): Promise<Config> {
    return harnessConfig(this.dir, options);
  }

  agent(agents: string[]): Promise<TestAgentClient> {
    return TestAgentClient.subscribed(this.wsUrl, AGENT_TOKEN, agents);
  }

  /** Rows the write-back delivered into the sample CRM's call_log table. */
  crmCallLog(): Record<string, unknown>[] {
    const db = new Database(join(this.dir, 'crm.sqlite'), { readonly: true });
    try {
      return db.prepare('SELECT * FROM call_log').all() as Record<string, unknown>[];
    } finally {
      db.close();
    }
  }

  async stop(): Promise<void> {
    await this.daemon.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}

function harnessConfig(dir: string, options: HarnessOptions): Promise<Config> {
  return validateConfig(
    {
      log: { level: 'silent' },
      pbx: Array.isArray(options.pbx) ? options.pbx : [options.pbx],
      connectors: options.connectors ?? [{ name: 'crm', type: 'sql', driver: 'sqlite', file: 'crm.sqlite', id_field: 'id', lookup_query: SAMPLE_LOOKUP_QUERY, log_call_query: SAMPLE_LOG_CALL_QUERY }],
      lookup: options.lookup ?? { default_region: 'DE', sources: [{ connector: 'crm' }] },
      mapping: options.mapping ?? {
        templates: [{ name: 'default', fields: { name: 'first_name', last_name: 'last_name', company: 'company', account_id: 'id' } }],
      },
      hub: { host: '127.0.0.1', port: 0, tokens: [{ token: AGENT_TOKEN, agents: ['*'], admin: true }] },
      store: { file: 'callpop.sqlite', writeback: { connectors: options.connectors ? [] : ['crm'], retry_initial_ms: 50 } },
    },
    { file: 'e2e.yaml', baseDir: dir },
    options.registry ? { connectors: options.registry } : {},
  );
}

/** Polls `probe` until it returns a value (bounded), for effects that happen after a grace time. */
export async function eventually<T>(
  probe: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
