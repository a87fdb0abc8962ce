import { isAbsolute, resolve } from 'node:path';
import { CallJournal } from './calls/call-journal.js';
import { CallTracker } from './calls/call-tracker.js';
import { OpenPops, type OpenPop } from './calls/open-pops.js';
import type { Config } from './config/config-types.js';
import type { CallRecord, Connector } from './connectors/contract.js';
import { ConnectorRegistry } from './connectors/registry.js';
import { HubServer, sendJson, type HttpRoute } from './hub/hub-server.js';
import { callStateMessage, renderPopMessage } from './hub/pop-message.js';
import type { AgentMessage, Unstamped } from './hub/protocol.js';
import { createLookupService } from './lookup/lookup-service.js';
import type { LookupService } from './lookup/lookup-api.js';
import { compileMapping } from './mapping/compile-mapping.js';
import type { CompiledMapping } from './mapping/mapping-api.js';
import type { CallEvent } from './model/call-event.js';
import type { LookupResult } from './model/customer.js';
import { describeError } from './model/errors.js';
import type { Logger } from './model/logger.js';
import { Metrics } from './observability/metrics.js';
import type { PbxAdapter, PbxAdapterDefinition, PbxStatus } from './pbx/pbx-adapter.js';
import { pbxDefinitions } from './pbx/pbx-registry.js';
import { CallStore } from './store/call-store.js';
import { WritebackWorker } from './store/writeback-worker.js';

export interface DaemonOptions {
  logger: Logger;
  connectors?: ConnectorRegistry;
  pbx?: readonly PbxAdapterDefinition<any>[];
}

/** Everything that turns a connector block list into live connectors, shared by run/check/lookup. */
export async function createConnectors(config: Config, registry: ConnectorRegistry, logger: Logger): Promise<Map<string, Connector>> {
  const connectors = new Map<string, Connector>();
  try {
    for (const block of config.connectors) {
      const connector = await registry.create(block, { name: block.name, logger: logger.child({ connector: block.name }), baseDir: config.baseDir });
      connectors.set(block.name, connector);
    }
  } catch (err) {
    await Promise.allSettled([...connectors.values()].map((c) => c.close()));
    throw err;
  }
  return connectors;
}

/** Bound on pops remembered for `pick` and late updates (one per ringing agent leg). */
const MAX_OPEN_POPS = 50_000;
/** How long after a call ends its agent may still pick another customer (wrap-up). */
const PICK_WINDOW_MS = 10 * 60_000;

const EMPTY_LOOKUP = (number: string): LookupResult => ({ number, candidates: [], matches: [], errors: [], pending: false });

/**
 * The wiring (DESIGN.md "Data flow"): PBX adapters -> call tracker -> lookup -> mapping ->
 * hub, and finished calls -> call store -> write-back outbox. Only this file knows every stage.
 */
export class Daemon {
  readonly metrics = new Metrics();
  readonly hub: HubServer;
  readonly store: CallStore;
  readonly tracker: CallTracker;
  private readonly adapters = new Map<string, PbxAdapter>();
  private readonly journal: CallJournal;
  private readonly writeback: WritebackWorker;
  private readonly pbxStatus = new Map<string, PbxStatus>();
  /** Per-call promise chains: a call's events are handled in order even though lookups are async. */
  private readonly chains = new Map<string, Promise<void>>();
  private readonly roles: string[];
  /**
   * Pops by call and agent, so a late lookup updates every pop of its call and an agent's
   * `pick` can re-render theirs; kept for a wrap-up window after the call ends, since agents
   * often identify the customer while talking.
   */
  private readonly popped = new OpenPops({ maxPops: MAX_OPEN_POPS, windowMs: PICK_WINDOW_MS });
  private sweepTimer: NodeJS.Timeout | null = null;

  private constructor(
    private current: Config,
    private readonly logger: Logger,
    private connectors: Map<string, Connector>,
    private lookup: LookupService,
    private mapping: CompiledMapping,
    definitions: readonly PbxAdapterDefinition<any>[],
    private readonly registry: ConnectorRegistry,
  ) {
    const config = current;
    this.roles = [...new Set(config.hub.tokens.map((t) => t.role))];
    this.tracker = new CallTracker({
      logger: logger.child({ stage: 'tracker' }),
      agentForDevice: (pbxId, device) => this.adapters.get(pbxId)?.agentFor(device) ?? null,
    });
    const storeFile = config.store.file === ':memory:' || isAbsolute(config.store.file) ? config.store.file : resolve(config.baseDir, config.store.file);
    this.store = new CallStore(storeFile);
    this.journal = new CallJournal({ onFinished: (record) => this.saveCall(record) });
    this.writeback = new WritebackWorker({
      store: this.store,
      connectors: () => this.connectors,
      logger: logger.child({ stage: 'writeback' }),
      retryInitialMs: config.store.writeback.retry_initial_ms,
      retryMaxMs: config.store.writeback.retry_max_ms,
      timeoutMs: config.store.writeback.timeout_ms,
    });
    this.hub = new HubServer({ config: config.hub, logger: logger.child({ stage: 'hub' }), routes: [this.healthRoute, this.metricsRoute, this.cacheRoute], onPick: (pick) => this.onPick(pick) });
    for (const entry of config.pbx) {
      const definition = definitions.find((d) => d.type === entry.type);
      if (!definition) throw new Error(`no adapter for PBX type ${entry.type}`);
      // Adapters bind `pbx` to their own child loggers.
      const adapter = definition.create(entry, { logger });
      this.attach(adapter);
    }
  }

  /** Builds every stage from a validated config. Throws a CallpopError on a stage that cannot start. */
  static async create(config: Config, options: DaemonOptions): Promise<Daemon> {
    const logger = options.logger;
    const mapping = compileMapping(config.mapping, { file: config.file }, logger.child({ stage: 'mapping' }));
    const connectors = await createConnectors(config, options.connectors ?? new ConnectorRegistry(), logger);
    const lookup = createLookupService(config.lookup, connectors, { logger: logger.child({ stage: 'lookup' }) });
    return new Daemon(config, logger, connectors, lookup, mapping, options.pbx ?? pbxDefinitions, options.connectors ?? new ConnectorRegistry());
  }

  get config(): Config {
    return this.current;
  }

  /**
   * Swaps in the mapping, connectors and lookup settings of a new, already validated config
   * (SIGHUP). Everything new is built before anything old is touched, so a failure leaves
   * the running config as it was. PBX and hub settings need a restart; a change there is
   * reported, not applied.
   */
  async reload(next: Config): Promise<{ applied: string[]; needsRestart: string[] }> {
    const mapping = compileMapping(next.mapping, { file: next.file }, this.logger.child({ stage: 'mapping' }));
    const connectors = await createConnectors(next, this.registry, this.logger);
    let lookup: LookupService;
    try {
      lookup = createLookupService(next.lookup, connectors, { logger: this.logger.child({ stage: 'lookup' }) });
    } catch (err) {
      await Promise.allSettled([...connectors.values()].map((c) => c.close()));
      throw err;
    }
    const old = { connectors: this.connectors, lookup: this.lookup };
    this.mapping = mapping;
    this.connectors = connectors;
    this.lookup = lookup;
    const needsRestart = (['pbx', 'hub', 'store'] as const).filter((key) => JSON.stringify(next[key]) !== JSON.stringify(this.current[key]));
    this.current = { ...next, pbx: this.current.pbx, hub: this.current.hub, store: this.current.store };
    await old.lookup.close();
    await Promise.allSettled([...old.connectors.values()].map((c) => c.close()));
    const applied = ['mapping', 'connectors', 'lookup'];
    this.logger.info({ applied, needsRestart }, needsRestart.length > 0 ? `config reloaded; restart to apply ${needsRestart.join(', ')}` : 'config reloaded');
    return { applied, needsRestart };
  }

  /** Starts listening and connecting; resolves with the hub's port once agents can connect. */
  async start(): Promise<{ port: number }> {
    const port = await this.hub.listen();
    for (const adapter of this.adapters.values()) adapter.start();
    this.writeback.start();
    this.sweepTimer = setInterval(() => {
      for (const event of this.tracker.sweep()) this.dispatch(event);
      this.store.prune(this.config.store.keep_days);
    }, 60_000);
    this.sweepTimer.unref();
    this.logger.info({ port, pbx: [...this.adapters.keys()] }, 'callpop running');
    return { port };
  }

  async stop(): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    await Promise.allSettled([...this.adapters.values()].map((a) => a.stop()));
    await Promise.allSettled([...this.chains.values()]);
    this.journal.flush();
    await this.writeback.stop();
    await this.hub.close();
    await this.lookup.close();
    await Promise.allSettled([...this.connectors.values()].map((c) => c.close()));
    this.store.close();
    this.logger.info({}, 'callpop stopped');
  }

  private attach(adapter: PbxAdapter): void {
    this.adapters.set(adapter.id, adapter);
    adapter.on('leg', (leg) => {
      for (const event of this.tracker.handle(leg)) this.dispatch(event);
    });
    adapter.on('resync', (legs) => {
      const events = this.tracker.resync(adapter.id, legs);
      this.logger.info({ pbx: adapter.id, active: legs.length, events: events.length }, 'resynced calls after connect');
      for (const event of events) this.dispatch(event);
    });
    adapter.on('early', (early) => {
      if (!early.anonymous && early.caller.number) this.lookup.prefetch(early.caller.number);
    });
    adapter.on('status', (status) => {
      this.pbxStatus.set(status.pbxId, status);
      this.metrics.pbxConnected.set({ pbx: status.pbxId }, status.state === 'connected' ? 1 : 0);
      const log = status.state === 'connected' ? 'info' : status.state === 'connecting' ? 'debug' : 'warn';
      this.logger[log]({ pbx: status.pbxId, state: status.state, reason: status.reason, retryInMs: status.retryInMs }, `PBX ${status.state}`);
    });
  }

  /** Queues one call event behind the earlier events of the same call. */
  private dispatch(event: CallEvent): void {
    this.metrics.callEvents.inc({ pbx: event.pbxId, kind: event.kind });
    this.enqueue(event.pbxId, event.callId, () => this.handle(event), { agent: event.agent.extension });
  }

  /** Runs `task` after everything already queued for this call, so its messages keep their order. */
  private enqueue(pbxId: string, callId: string, task: () => Promise<void>, bindings: Record<string, string> = {}): void {
    const key = `${pbxId}\u0000${callId}`;
    const previous = this.chains.get(key) ?? Promise.resolve();
    const next = previous.then(task).catch((err: unknown) => {
      this.metrics.errors.inc({ stage: 'pop' });
      this.logger.error({ pbx: pbxId, callId, ...bindings, err: describeError(err) }, 'failed to handle call event');
    });
    this.chains.set(key, next);
    void next.finally(() => {
      if (this.chains.get(key) === next) this.chains.delete(key);
    });
  }

  private async handle(event: CallEvent): Promise<void> {
    this.journal.record(event);
    if (event.kind !== 'ringing' && event.kind !== 'dialing') {
      if (event.kind !== 'answered') {
        const closed = this.popped.close(event.pbxId, event.callId, event.agent.extension);
        if (closed) void this.releaseWhenNothingToPick(closed);
      }
      this.hub.publish(callStateMessage(event));
      return;
    }
    const started = performance.now();
    const popped = this.popped.open(event);
    const lookup = this.lookupFor(event);
    popped.lookup = lookup;
    const result = await lookup;
    await this.publishPop('pop', event, result);
    this.metrics.popLatency.observe((performance.now() - started) / 1000);
    this.metrics.pops.inc({ result: result.matches.length > 0 ? 'found' : event.anonymous ? 'anonymous' : 'unknown' });
  }

  /** The customer lookup for a ringing/dialing leg; transfer targets and ring-group legs reuse the call's. */
  private lookupFor(event: CallEvent): Promise<LookupResult> {
    const known = this.journal.lookupFor(event.pbxId, event.callId);
    if (known) return known;
    const number = event.kind === 'dialing' ? event.callee.number : event.caller.number;
    if (event.anonymous || !number) {
      const empty = Promise.resolve(EMPTY_LOOKUP(''));
      this.journal.setLookup(event.pbxId, event.callId, empty);
      return empty;
    }
    const lookup = this.lookup
      .lookup(number, { onUpdate: (complete) => this.lateLookup(event, complete) })
      .catch((err: unknown): LookupResult => {
        // The lookup engine reports source failures in `errors`; reaching here is a bug, not a miss.
        this.logger.error({ pbx: event.pbxId, callId: event.callId, err: describeError(err) }, 'lookup failed');
        return { ...EMPTY_LOOKUP(number), errors: [{ source: '*', code: 'CALLPOP_LOOKUP_FAILED', message: describeError(err) }] };
      });
    this.journal.setLookup(event.pbxId, event.callId, lookup);
    return lookup;
  }

  /**
   * A lookup finished after the pop deadline: every agent shown a pending pop for this call
   * (a ring group shares one lookup) gets an `update`, queued behind the call's pops.
   */
  private lateLookup(event: CallEvent, complete: LookupResult): void {
    const settled = Promise.resolve(complete);
    this.journal.setLookup(event.pbxId, event.callId, settled);
    this.enqueue(event.pbxId, event.callId, async () => {
      for (const popped of this.popped.ofCall(event.pbxId, event.callId)) {
        popped.lookup = settled;
        await this.publishPop('update', popped.event, complete);
        if (popped.closedAt !== undefined) void this.releaseWhenNothingToPick(popped);
      }
    });
  }

  /**
   * A closed pop stays for the wrap-up window only so its agent can still pick among the
   * customers of a shared number, or receive a late lookup's update. With one match or none
   * and the lookup complete, neither can happen: drop it, so memory follows the calls in
   * progress rather than the last MAX_OPEN_POPS calls (at hundreds of calls/s those filled the
   * heap that every major GC has to mark).
   */
  private async releaseWhenNothingToPick(pop: OpenPop): Promise<void> {
    const result = await pop.lookup;
    if (result && (result.pending || result.matches.length > 1)) return;
    this.popped.forget(pop);
  }

  /**
   * The agent chose another customer of a shared number: re-render their pop with it, and
   * log the call against that customer if its record is not written yet.
   */
  private async onPick(pick: { pbx: string; callId: string; agent: string; index: number }): Promise<void> {
    const popped = this.popped.get(pick.pbx, pick.callId, pick.agent);
    const lookup = this.journal.lookupFor(pick.pbx, pick.callId) ?? popped?.lookup;
    if (!popped || !lookup) {
      throw new Error(
        `no pop to pick from for call ${pick.callId} and agent ${pick.agent} (closed more than ${PICK_WINDOW_MS / 60000} minutes ago, closed with fewer than two matches, or never shown)`,
      );
    }
    const result = await lookup;
    if (pick.index >= result.matches.length) throw new Error(`call ${pick.callId} has ${result.matches.length} match(es); index ${pick.index} does not exist`);
    this.journal.select(pick.pbx, pick.callId, pick.index);
    await this.publishPop('update', popped.event, result, pick.index);
  }

  private async publishPop(type: 'pop' | 'update', event: CallEvent, result: LookupResult, selected = 0): Promise<void> {
    // Rendered once per agent role: templates may be chosen by role, and masking differs by role.
    const byRole = new Map<string, Unstamped<AgentMessage>>();
    for (const role of this.roles) byRole.set(role, await renderPopMessage(this.mapping, type, event, result, { role, selected }));
    const fallback = byRole.get(this.roles[0] ?? 'agent');
    if (fallback) this.hub.publish(fallback, byRole);
  }

  private saveCall(record: CallRecord): void {
    try {
      this.store.save(record, this.config.store.writeback.connectors);
    } catch (err) {
      this.metrics.errors.inc({ stage: 'store' });
      this.logger.error({ callId: record.callId, err: describeError(err) }, 'failed to store call record');
    }
  }

  private readonly healthRoute: HttpRoute = async (req, res) => {
    if (req.method !== 'GET' || req.url !== '/healthz') return false;
    const pbx = [...this.adapters.keys()].map((id) => this.pbxStatus.get(id) ?? { pbxId: id, state: 'connecting' });
    const ok = pbx.every((p) => p.state === 'connected');
    sendJson(res, ok ? 200 : 503, { ok, pbx, calls: this.tracker.size, connections: this.hub.connectionCount, outbox: this.store.pendingCount() });
    return true;
  };

  private readonly metricsRoute: HttpRoute = async (req, res) => {
    if (req.method !== 'GET' || req.url !== '/metrics') return false;
    this.metrics.hubConnections.set(this.hub.connectionCount);
    const text = await this.metrics.registry.metrics();
    res.writeHead(200, { 'content-type': this.metrics.registry.contentType });
    res.end(text);
    return true;
  };

  /** `POST /api/cache/clear[?number=...]` with an admin token: explicit cache invalidation. */
  private readonly cacheRoute: HttpRoute = async (req, res, auth) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== '/api/cache/clear') return false;
    if (req.method !== 'POST') {
      sendJson(res, 405, { error: 'use POST' });
      return true;
    }
    const token = auth.fromHeader(req.headers.authorization);
    if (!token?.admin) {
      sendJson(res, 401, { error: 'an admin token is required (hub.tokens[].admin: true), sent as Authorization: Bearer <token>' });
      return true;
    }
    const number = url.searchParams.get('number') ?? undefined;
    this.lookup.invalidate(number);
    this.logger.info({ number: number ?? '(all)' }, 'lookup cache cleared');
    sendJson(res, 200, { cleared: number ?? 'all' });
    return true;
  };
}
