import type { Config } from '../config/config-types.js';
import type { Connector } from '../connectors/contract.js';
import type { ConnectorRegistry } from '../connectors/registry.js';
import type { Lifecycle } from '../model/lifecycle.js';
import { untilDeadline } from '../model/lifecycle.js';
import type { Logger } from '../model/logger.js';
import type { LookupService } from './lookup-api.js';
import { createLookupService } from './lookup-service.js';

/** Turns the config's connector blocks into live connectors; on a failure closes what was made. */
export async function createConnectors(config: Config, registry: ConnectorRegistry, logger: Logger): Promise<Map<string, Connector>> {
  const connectors = new Map<string, Connector>();
  try {
    for (const block of config.connectors) {
      const connector = await registry.create(block, { name: block.name, logger: logger.child({ connector: block.name }), baseDir: config.baseDir });
      connectors.set(block.name, connector);
    }
  } catch (err) {
    await closeAll(connectors);
    throw err;
  }
  return connectors;
}

/**
 * The CRM side of the daemon: the live connectors and the lookup service over them. A reload
 * builds the new set completely before it replaces the old one, so a failure leaves the
 * running set as it was.
 */
export class CrmLookup implements Lifecycle {
  readonly name = 'lookup';

  private constructor(
    private current: { connectors: Map<string, Connector>; service: LookupService },
    private readonly registry: ConnectorRegistry,
    private readonly logger: Logger,
  ) {}

  static async create(config: Config, registry: ConnectorRegistry, logger: Logger): Promise<CrmLookup> {
    return new CrmLookup(await CrmLookup.build(config, registry, logger), registry, logger);
  }

  get service(): LookupService {
    return this.current.service;
  }

  get connectors(): ReadonlyMap<string, Connector> {
    return this.current.connectors;
  }

  /** Builds connectors and lookup from `next`; throws (changing nothing) when they cannot be built. */
  async replace(next: Config): Promise<void> {
    const built = await CrmLookup.build(next, this.registry, this.logger);
    const old = this.current;
    this.current = built;
    await old.service.close();
    await closeAll(old.connectors);
  }

  async start(): Promise<void> {}

  private stopped = false;

  async stop(deadline: number): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await untilDeadline(this.current.service.close(), deadline);
    await untilDeadline(closeAll(this.current.connectors), deadline);
  }

  private static async build(config: Config, registry: ConnectorRegistry, logger: Logger): Promise<CrmLookup['current']> {
    const connectors = await createConnectors(config, registry, logger);
    try {
      return { connectors, service: createLookupService(config.lookup, connectors, { logger: logger.child({ stage: 'lookup' }) }) };
    } catch (err) {
      await closeAll(connectors);
      throw err;
    }
  }
}

async function closeAll(connectors: ReadonlyMap<string, Connector>): Promise<void> {
  await Promise.allSettled([...connectors.values()].map((c) => c.close()));
}
