import type { PbxEntry } from '../config/config-types.js';
import type { CallEvent } from '../model/call-event.js';
import type { Lifecycle } from '../model/lifecycle.js';
import { untilDeadline } from '../model/lifecycle.js';
import type { Logger } from '../model/logger.js';
import type { EarlyCall, PbxAdapter, PbxAdapterDefinition, PbxStatus } from '../pbx/pbx-adapter.js';
import type { LiveShelf } from '../store/live-state.js';
import { CallTracker, type TrackedLeg } from './call-tracker.js';

export interface CallIntakeOptions {
  pbx: readonly PbxEntry[];
  definitions: readonly PbxAdapterDefinition<any>[];
  logger: Logger;
  /** Every call event the tracker makes, in order. */
  onEvent(event: CallEvent): void;
  /** A call is coming (trunk channel seen, no agent ringing yet). */
  onEarly?(early: EarlyCall): void;
  /** A PBX connection changed state. */
  onStatus?(status: PbxStatus): void;
  /** A PBX's channel list was applied (after every connect); its events were emitted first. */
  onResynced?(pbxId: string): void;
  /** Where tracked legs are kept across restarts. */
  shelf?: LiveShelf<TrackedLeg>;
}

/**
 * Where calls come in: one adapter per configured PBX, feeding the call tracker, which turns
 * leg facts into the call events of DESIGN.md "The normalised call model". Owns the PBX
 * connections' lifecycle and their status for /healthz.
 */
export class CallIntake implements Lifecycle {
  readonly name = 'pbx';
  readonly tracker: CallTracker;
  private readonly adapters = new Map<string, PbxAdapter>();
  private readonly statuses = new Map<string, PbxStatus>();
  private readonly lastOutcome = new Map<string, PbxStatus['state']>();
  private sweepTimer: NodeJS.Timeout | null = null;

  constructor(private readonly options: CallIntakeOptions) {
    this.tracker = new CallTracker({
      logger: options.logger.child({ stage: 'tracker' }),
      ...(options.shelf ? { shelf: options.shelf } : {}),
      agentForDevice: (pbxId, device) => this.adapters.get(pbxId)?.agentFor(device) ?? null,
    });
    for (const entry of options.pbx) {
      const definition = options.definitions.find((d) => d.type === entry.type);
      if (!definition) throw new Error(`no adapter for PBX type ${entry.type}`);
      // Adapters bind `pbx` to their own child loggers.
      this.attach(definition.create(entry, { logger: options.logger }));
    }
  }

  /** The PBX connections, e.g. for their link statistics. */
  pbxAdapters(): PbxAdapter[] {
    return [...this.adapters.values()];
  }

  /** Each PBX's connection state (connecting until its first report). */
  status(): PbxStatus[] {
    return [...this.adapters.keys()].map((id) => this.statuses.get(id) ?? { pbxId: id, state: 'connecting' });
  }

  async start(): Promise<void> {
    const restored = this.tracker.restore();
    if (restored > 0) this.options.logger.info({ legs: restored }, 'took over the calls in progress from the call store; the PBX resync confirms or ends them');
    for (const adapter of this.adapters.values()) adapter.start();
    this.sweepTimer = setInterval(() => this.emit(this.tracker.sweep()), 60_000);
    this.sweepTimer.unref();
  }

  async stop(deadline: number): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    await untilDeadline(Promise.allSettled([...this.adapters.values()].map((a) => a.stop())), deadline);
  }

  private attach(adapter: PbxAdapter): void {
    const { logger } = this.options;
    this.adapters.set(adapter.id, adapter);
    adapter.on('leg', (leg) => this.emit(this.tracker.handle(leg)));
    adapter.on('resync', (legs) => {
      const events = this.tracker.resync(adapter.id, legs);
      logger.info({ pbx: adapter.id, active: legs.length, events: events.length }, 'resynced calls after connect');
      this.emit(events);
      this.options.onResynced?.(adapter.id);
    });
    adapter.on('early', (early) => this.options.onEarly?.(early));
    adapter.on('status', (status) => {
      // `connecting` comes between every two probes; a change is measured against the last outcome.
      const changed = status.state === 'connecting' || this.lastOutcome.get(status.pbxId) !== status.state;
      if (status.state !== 'connecting') this.lastOutcome.set(status.pbxId, status.state);
      this.statuses.set(status.pbxId, status);
      // The link probes a down PBX every second: warn when the state changes, not per probe.
      const level = status.state === 'connected' ? 'info' : status.state === 'connecting' || !changed ? 'debug' : 'warn';
      logger[level]({ pbx: status.pbxId, state: status.state, reason: status.reason, retryInMs: status.retryInMs }, `PBX ${status.state}`);
      this.options.onStatus?.(status);
    });
  }

  private emit(events: readonly CallEvent[]): void {
    for (const event of events) this.options.onEvent(event);
  }
}
