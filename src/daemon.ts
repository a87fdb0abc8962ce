import { isAbsolute, resolve } from 'node:path';
import { CallIntake } from './calls/call-intake.js';
import { CallJournal, type RecordDelivery } from './calls/call-journal.js';
import type { Config } from './config/config-types.js';
import { ConnectorRegistry } from './connectors/registry.js';
import { HubServer } from './hub/hub-server.js';
import { CrmLookup } from './lookup/crm-lookup.js';
import { compileMapping } from './mapping/compile-mapping.js';
import type { CompiledMapping } from './mapping/mapping-api.js';
import type { CallRecord } from './model/call-record.js';
import { describeError } from './model/errors.js';
import { untilDeadline, type Lifecycle } from './model/lifecycle.js';
import type { Logger } from './model/logger.js';
import { cacheClearRoute, healthRoute, metricsRoute } from './observability/admin-routes.js';
import { registerGuardMetrics } from './observability/guard-metrics.js';
import { registerLinkMetrics } from './observability/link-metrics.js';
import { Metrics } from './observability/metrics.js';
import type { PbxAdapterDefinition } from './pbx/pbx-adapter.js';
import { pbxDefinitions } from './pbx/pbx-registry.js';
import { PopStage } from './pops/pop-stage.js';
import { CallStore } from './store/call-store.js';
import { WritebackWorker } from './store/writeback-worker.js';

export interface DaemonOptions {
  logger: Logger;
  connectors?: ConnectorRegistry;
  pbx?: readonly PbxAdapterDefinition<any>[];
}

/** How long a stop may take before what is still pending is abandoned. */
const STOP_DEADLINE_MS = 10_000;

/**
 * The wiring (DESIGN.md "Data flow"): builds each stage, connects their seams, starts them in
 * order and stops them in reverse. The stages themselves live in their own folders; this file
 * only knows which output goes to which input.
 */
export class Daemon {
  readonly metrics = new Metrics();
  readonly store: CallStore;
  readonly hub: HubServer;
  readonly pops: PopStage;
  readonly intake: CallIntake;
  /** In start order; stopped in reverse. */
  private readonly components: Lifecycle[];
  private started: Lifecycle[] = [];

  private constructor(
    private current: Config,
    private readonly logger: Logger,
    private readonly crm: CrmLookup,
    private mapping: CompiledMapping,
    definitions: readonly PbxAdapterDefinition<any>[],
  ) {
    const config = current;
    this.store = new CallStore(storePath(config), { keepDays: config.store.keep_days, logger: logger.child({ stage: 'store' }) });
    const live = this.store.live;
    const journal = new CallJournal({
      shelf: live.shelf('call'),
      markSeen: () => live.markSeen(),
      onRecord: (record, delivery) => this.saveCall(record, delivery),
      onResumed: (pbxId, callId) => this.store.withdraw(pbxId, callId),
    });
    const writeback = new WritebackWorker({
      store: this.store,
      connectors: () => this.crm.connectors,
      logger: logger.child({ stage: 'writeback' }),
      retryInitialMs: config.store.writeback.retry_initial_ms,
      retryMaxMs: config.store.writeback.retry_max_ms,
      timeoutMs: config.store.writeback.timeout_ms,
    });
    // The hub and the pop stage refer to each other (delivery one way, pick and snapshot the
    // other), so the hub reaches the pop stage through closures.
    this.hub = new HubServer({
      config: config.hub,
      logger: logger.child({ stage: 'hub' }),
      onPick: (pick) => this.pops.pick(pick),
      snapshot: (agents) => this.pops.snapshot(agents),
      routes: [
        healthRoute({
          pbx: () => this.intake.status(),
          trackedLegs: () => this.intake.tracker.size,
          connections: () => this.hub.connectionCount,
          outbox: () => this.store.pendingCount(),
        }),
        metricsRoute(this.metrics),
        cacheClearRoute((number) => this.crm.service.invalidate(number), logger),
      ],
    });
    this.pops = new PopStage({
      lookup: () => this.crm.service,
      mapping: () => this.mapping,
      roles: [...new Set(config.hub.tokens.map((t) => t.role))],
      delivery: this.hub,
      identification: journal,
      metrics: this.metrics,
      logger: logger.child({ stage: 'pops' }),
      shelf: live.shelf('pop'),
    });
    this.intake = new CallIntake({
      pbx: config.pbx,
      definitions,
      logger,
      onEvent: (event) => {
        journal.record(event);
        this.pops.handle(event);
      },
      onEarly: (early) => {
        if (!early.anonymous && early.caller.number) this.crm.service.prefetch(early.caller.number);
      },
      shelf: live.shelf('leg'),
      onResynced: (pbxId) => {
        const isLive = (legId: string) => this.intake.tracker.isLive(pbxId, legId);
        journal.reconcile(pbxId, isLive);
        this.pops.reconcile(pbxId, isLive);
      },
      onStatus: (status) => this.metrics.pbxConnected.set({ pbx: status.pbxId }, status.state === 'connected' ? 1 : 0),
    });
    registerLinkMetrics(this.metrics.registry, () => this.intake.pbxAdapters());
    registerGuardMetrics(this.metrics.registry, { hub: () => this.hub.stats(), evictedLegs: () => this.intake.tracker.evictedLegs, pops: () => this.pops.size });
    // Stopped in reverse: PBX events stop first, queued pops still reach the agents, the
    // journal stores what it holds, and only then do the hub, the CRM and the store close.
    this.components = [this.store, crm, this.hub, journal, this.pops, writeback, this.intake];
  }

  /** Builds every stage from a validated config. Throws a CallpopError on a stage that cannot start. */
  static async create(config: Config, options: DaemonOptions): Promise<Daemon> {
    const logger = options.logger;
    const mapping = compileMapping(config.mapping, { file: config.file }, logger.child({ stage: 'mapping' }));
    const crm = await CrmLookup.create(config, options.connectors ?? new ConnectorRegistry(), logger);
    try {
      return new Daemon(config, logger, crm, mapping, options.pbx ?? pbxDefinitions);
    } catch (err) {
      await crm.stop(Date.now() + STOP_DEADLINE_MS);
      throw err;
    }
  }

  get config(): Config {
    return this.current;
  }

  /**
   * Swaps in the mapping, connectors and lookup settings of a new, already validated config
   * (SIGHUP). Everything new is built before anything old is touched, so a failure leaves
   * the running config as it was. PBX, hub and store settings need a restart; a change there
   * is reported, not applied.
   */
  async reload(next: Config): Promise<{ applied: string[]; needsRestart: string[] }> {
    const mapping = compileMapping(next.mapping, { file: next.file }, this.logger.child({ stage: 'mapping' }));
    await this.crm.replace(next);
    this.mapping = mapping;
    const needsRestart = (['pbx', 'hub', 'store'] as const).filter((key) => JSON.stringify(next[key]) !== JSON.stringify(this.current[key]));
    this.current = { ...next, pbx: this.current.pbx, hub: this.current.hub, store: this.current.store };
    const applied = ['mapping', 'connectors', 'lookup'];
    this.logger.info({ applied, needsRestart }, needsRestart.length > 0 ? `config reloaded; restart to apply ${needsRestart.join(', ')}` : 'config reloaded');
    return { applied, needsRestart };
  }

  /** Starts every stage in order; resolves with the hub's port once agents can connect. */
  async start(): Promise<{ port: number }> {
    for (const component of this.components) {
      await component.start();
      this.started.push(component);
    }
    this.logger.info({ port: this.hub.port, pbx: this.intake.status().map((s) => s.pbxId) }, 'callpop running');
    return { port: this.hub.port };
  }

  /** Stops what was started, in reverse order, each within the shared deadline. */
  async stop(): Promise<void> {
    const deadline = Date.now() + STOP_DEADLINE_MS;
    for (const component of this.started.reverse()) {
      try {
        if ((await untilDeadline(component.stop(deadline), deadline)) === 'timeout') this.logger.warn({ component: component.name }, 'stop deadline passed');
      } catch (err) {
        this.logger.error({ component: component.name, err: describeError(err) }, 'failed to stop cleanly');
      }
    }
    this.started = [];
    // Stages that never started (a failed start) still hold files and pools.
    await this.crm.stop(deadline);
    this.store.close();
    this.logger.info({}, 'callpop stopped');
  }

  private saveCall(record: CallRecord, delivery: RecordDelivery): void {
    try {
      this.store.save(record, this.config.store.writeback.connectors, Date.now(), delivery);
    } catch (err) {
      this.metrics.errors.inc({ stage: 'store' });
      this.logger.error({ callId: record.callId, err: describeError(err) }, 'failed to store call record');
    }
  }
}

function storePath(config: Config): string {
  const file = config.store.file;
  return file === ':memory:' || isAbsolute(file) ? file : resolve(config.baseDir, file);
}
