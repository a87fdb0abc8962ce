import { deliverable, type Deliverable } from '../hub/deliverable.js';
import type { PickMessage } from '../hub/protocol.js';
import type { LookupService } from '../lookup/lookup-api.js';
import type { CompiledMapping } from '../mapping/mapping-api.js';
import type { CallEvent } from '../model/call-event.js';
import type { CustomerRef, LookupResult } from '../model/customer.js';
import { describeError } from '../model/errors.js';
import type { Lifecycle } from '../model/lifecycle.js';
import { untilDeadline } from '../model/lifecycle.js';
import type { Logger } from '../model/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { LiveShelf } from '../store/live-state.js';
import { callKey, PopBook, type AgentPop, type PopCall, type RenderedPop } from './pop-book.js';
import { callStateMessage, renderPopMessage } from './render-pop.js';

/** Where the pop stage sends what agents should see: the hub. */
export interface PopDelivery {
  deliver(message: Deliverable): number;
}

/** Told which customer each call is about, so its call record names them. */
export interface CallIdentification {
  /** A lookup started for the call: its record waits (bounded) for the customer. */
  lookupStarted(pbxId: string, callId: string): void;
  /** The customer the call is logged against (null: nobody found); again after a `pick`. */
  identified(pbxId: string, callId: string, customer: CustomerRef | null): void;
}

export interface PopStageOptions {
  /** Getters: a config reload swaps the lookup and the mapping under a running stage. */
  lookup: () => LookupService;
  mapping: () => CompiledMapping;
  /** Token roles: each pop is rendered once per role (templates and masking may differ). */
  roles: readonly string[];
  delivery: PopDelivery;
  identification: CallIdentification;
  metrics: Metrics;
  logger: Logger;
  /** Bound on pops remembered for `pick` and late updates. */
  maxPops?: number;
  /** How long after a call ends its agent may still pick another customer (wrap-up). */
  pickWindowMs?: number;
  /** How long a call's lookup is kept for a transfer target after `transferred`. */
  transferWindowMs?: number;
  /** Where live pops are kept across restarts; none: in memory only. */
  shelf?: LiveShelf<StoredPop>;
}

/** A live pop as the call store keeps it. */
export interface StoredPop {
  event: CallEvent;
  state: 'ringing' | 'answered';
  rendered?: RenderedPop;
}

const EMPTY_LOOKUP = (number: string): LookupResult => ({ number, candidates: [], matches: [], errors: [], pending: false });

/**
 * The pop stage (DESIGN.md "Data flow"): for each call event, looks the caller up once per
 * call, renders the pop for each agent (per role) with the mapping, hands it to the hub,
 * follows with `update` when a late lookup completes or the agent picks another customer,
 * and releases pops when nothing more can happen to them. One call's events are handled in
 * order even though lookups are asynchronous.
 */
export class PopStage implements Lifecycle {
  readonly name = 'pops';
  private readonly book: PopBook;
  /** Per-call promise chains: a call's messages keep their order across async lookups. */
  private readonly chains = new Map<string, Promise<void>>();
  /** Pops whose end arrived (and left the store) but still waits in its call's chain. */
  private readonly closing = new Set<string>();
  private readonly pickWindowMs: number;
  private readonly transferWindowMs: number;
  private sweepTimer: NodeJS.Timeout | null = null;

  constructor(private readonly options: PopStageOptions) {
    this.pickWindowMs = options.pickWindowMs ?? 10 * 60_000;
    this.transferWindowMs = options.transferWindowMs ?? 60_000;
    this.book = new PopBook({ maxPops: options.maxPops ?? 50_000, windowMs: this.pickWindowMs });
  }

  /** Pops remembered (live, or closed but still pickable). */
  get size(): number {
    return this.book.size;
  }

  /**
   * Takes over the live pops an earlier process left in the call store: a client that
   * subscribes is shown them, and their call's later events close them. A pop whose lookup
   * had not finished is made again (the agent never saw it).
   */
  async start(): Promise<void> {
    for (const { value } of this.options.shelf?.all() ?? []) {
      const pop = this.book.restore(value.event, value.state, value.rendered);
      if (pop && !pop.rendered) this.enqueue(value.event.pbxId, value.event.callId, () => this.popFor(value.event, pop), value.event.agent.extension);
    }
    this.sweepTimer = setInterval(() => this.book.sweep(), 60_000);
    this.sweepTimer.unref();
  }

  /** Waits (until `deadline`) for the messages already queued, so agents get the last states. */
  async stop(deadline: number): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    if ((await untilDeadline(Promise.allSettled([...this.chains.values()]), deadline)) === 'timeout') {
      this.options.logger.warn({ pending: this.chains.size }, 'stopped before every queued pop was sent');
    }
  }

  /**
   * After a PBX resync: a live pop whose leg the tracker does not follow is closed, and its
   * agent told `ended`. Pops and legs are stored in the same transaction, so this only
   * catches rows that disagree for other reasons (a row an older version wrote, or one that
   * could not be read); without it such a pop would stay "ringing" in every snapshot.
   */
  reconcile(pbxId: string, isLive: (legId: string) => boolean, now = Date.now()): void {
    for (const pop of this.book.liveFor(['*'])) {
      const event = pop.event;
      if (event.pbxId !== pbxId || isLive(event.legId)) continue;
      this.handle({ ...event, kind: 'ended', at: now, estimatedEnd: true, cause: 'gone after PBX reconnect' });
    }
  }

  /**
   * Takes one call event from the tracker. Whether the agent's pop exists is stored here, in
   * the same turn as the tracker's leg and the journal's call (one write-behind transaction):
   * the chain below may run later (a lookup in flight), and a kill in between must not leave
   * a stored pop without its leg, or a leg without its pop.
   */
  handle(event: CallEvent): void {
    this.options.metrics.callEvents.inc({ pbx: event.pbxId, kind: event.kind });
    const id = shelfId(event);
    if (event.kind === 'ringing' || event.kind === 'dialing') {
      this.closing.delete(id);
      this.options.shelf?.put(event.pbxId, id, { event, state: 'ringing' });
    } else if (event.kind !== 'answered') {
      this.closing.add(id);
      this.options.shelf?.remove(event.pbxId, id);
    }
    this.enqueue(event.pbxId, event.callId, () => this.apply(event), event.agent.extension);
  }

  /**
   * What a client subscribing to these agents is shown at once: every call in progress on
   * them, as a `pop` as last rendered, marked `snapshot: true` with its `state` (ringing or
   * answered), so a reloaded page or a client of a restarted daemon shows the current calls.
   */
  snapshot(agents: readonly string[]): Deliverable[] {
    const out: Deliverable[] = [];
    for (const pop of this.book.liveFor(agents)) {
      if (!pop.rendered || pop.state === 'closed') continue;
      const marked = new Map<string, object>();
      for (const [role, message] of Object.entries(pop.rendered)) marked.set(role, { ...message, type: 'pop', snapshot: true, state: pop.state });
      const fallback = marked.values().next().value;
      if (fallback) out.push(deliverable(pop.event.agent.extension, fallback, marked));
    }
    return out;
  }

  /**
   * The agent chose another customer of a shared number: their pop is re-rendered with it,
   * and the call is logged against that customer.
   */
  async pick(pick: Pick<PickMessage, 'pbx' | 'callId' | 'agent' | 'index'>): Promise<void> {
    const pop = this.book.get(pick.pbx, pick.callId, pick.agent);
    const call = this.book.findCall(pick.pbx, pick.callId);
    if (!pop || !call?.lookup) {
      throw new Error(
        `no pop to pick from for call ${pick.callId} and agent ${pick.agent} (closed more than ${this.pickWindowMs / 60000} minutes ago, closed with fewer than two matches, or never shown)`,
      );
    }
    const result = await call.lookup;
    if (pick.index >= result.matches.length) throw new Error(`call ${pick.callId} has ${result.matches.length} match(es); index ${pick.index} does not exist`);
    call.selected = pick.index;
    this.options.identification.identified(pick.pbx, pick.callId, customerAt(result, pick.index));
    await this.render(pop, 'update', result, pick.index);
  }

  private async apply(event: CallEvent): Promise<void> {
    switch (event.kind) {
      case 'ringing':
      case 'dialing':
        return this.popFor(event);
      case 'answered': {
        const pop = this.book.answer(event.pbxId, event.callId, event.agent.extension);
        if (pop) this.persist(pop);
        break;
      }
      case 'transferred':
        // The transfer target rings after this agent's leg ends: keep the call's lookup for it.
        this.book.call(event.pbxId, event.callId).transferUntil = Date.now() + this.transferWindowMs;
        this.closePop(event);
        break;
      case 'ended':
      case 'missed':
        this.closePop(event);
        break;
    }
    this.options.delivery.deliver(deliverable(event.agent.extension, callStateMessage(event)));
  }

  private async popFor(event: CallEvent, restored?: AgentPop): Promise<void> {
    const started = performance.now();
    const pop = restored ?? this.book.open(event);
    const call = this.book.call(event.pbxId, event.callId);
    const result = await this.lookupFor(event, call);
    await this.render(pop, 'pop', result, call.selected);
    this.options.metrics.popLatency.observe((performance.now() - started) / 1000);
    this.options.metrics.pops.inc({ result: result.matches.length > 0 ? 'found' : event.anonymous ? 'anonymous' : 'unknown' });
  }

  /** The call's lookup, started by its first agent leg; later legs (ring group, transfer target) share it. */
  private lookupFor(event: CallEvent, call: PopCall): Promise<LookupResult> {
    if (call.lookup) return call.lookup;
    const number = event.kind === 'dialing' ? event.callee.number : event.caller.number;
    if (event.anonymous || !number) {
      const empty = EMPTY_LOOKUP('');
      call.settled = empty;
      call.lookup = Promise.resolve(empty);
      return call.lookup;
    }
    const { pbxId, callId } = event;
    this.options.identification.lookupStarted(pbxId, callId);
    call.lookup = this.options
      .lookup()
      .lookup(number, { onUpdate: (complete) => this.lateLookup(pbxId, callId, complete) })
      .catch((err: unknown): LookupResult => {
        // The lookup engine reports source failures in `errors`; reaching here is a bug, not a miss.
        this.options.logger.error({ pbx: pbxId, callId, err: describeError(err) }, 'lookup failed');
        return { ...EMPTY_LOOKUP(number), errors: [{ source: '*', code: 'CALLPOP_LOOKUP_FAILED', message: describeError(err) }] };
      })
      .then((result) => {
        if (!result.pending) this.settle(pbxId, callId, call, result);
        return result;
      });
    return call.lookup;
  }

  /**
   * A lookup finished after the pop deadline: every agent shown a pending pop for this call
   * gets an `update`, queued behind the call's pops. A closed pop is updated for its agent's
   * wrap-up but stays closed.
   */
  private lateLookup(pbxId: string, callId: string, complete: LookupResult): void {
    const call = this.book.findCall(pbxId, callId);
    if (!call) return;
    call.lookup = Promise.resolve(complete);
    this.settle(pbxId, callId, call, complete);
    this.enqueue(pbxId, callId, async () => {
      for (const pop of this.book.ofCall(pbxId, callId)) {
        await this.render(pop, 'update', complete, call.selected);
        if (pop.state === 'closed') this.releaseWhenNothingToPick(pop);
      }
    });
  }

  private settle(pbxId: string, callId: string, call: PopCall, result: LookupResult): void {
    call.settled = result;
    this.options.identification.identified(pbxId, callId, customerAt(result, call.selected));
  }

  private closePop(event: CallEvent): void {
    // Its stored row went when the event arrived (handle).
    this.closing.delete(shelfId(event));
    const pop = this.book.close(event.pbxId, event.callId, event.agent.extension);
    if (pop) this.releaseWhenNothingToPick(pop);
  }

  /**
   * Stores a live pop's rendering and state. Not for a pop whose end already arrived and
   * waits in the chain: its row is gone and must stay gone.
   */
  private persist(pop: AgentPop): void {
    if (pop.state === 'closed' || !this.options.shelf || this.closing.has(shelfId(pop.event))) return;
    const stored: StoredPop = { event: pop.event, state: pop.state, ...(pop.rendered ? { rendered: pop.rendered } : {}) };
    this.options.shelf.put(pop.event.pbxId, shelfId(pop.event), stored);
  }

  /**
   * A closed pop stays for the wrap-up window only so its agent can still pick among the
   * customers of a shared number, or receive a late lookup's update. With one match or none
   * and the lookup complete, neither can happen: drop it, so memory follows the calls in
   * progress rather than the last calls up to the bound.
   */
  private releaseWhenNothingToPick(pop: AgentPop): void {
    const call = this.book.findCall(pop.event.pbxId, pop.event.callId);
    const settled = call?.settled;
    if (!settled || settled.matches.length > 1) return;
    this.book.forget(pop);
  }

  private async render(pop: AgentPop, type: 'pop' | 'update', result: LookupResult, selected: number): Promise<void> {
    const { roles } = this.options;
    const mapping = this.options.mapping();
    const byRole = new Map<string, object>();
    for (const role of roles.length > 0 ? roles : ['agent']) byRole.set(role, await renderPopMessage(mapping, type, pop.event, result, { role, selected }));
    const fallback = byRole.values().next().value as object;
    pop.rendered = Object.fromEntries(byRole);
    this.persist(pop);
    this.options.delivery.deliver(deliverable(pop.event.agent.extension, fallback, byRole));
  }

  /** Runs `task` after everything already queued for this call, so its messages keep their order. */
  private enqueue(pbxId: string, callId: string, task: () => Promise<void>, agent?: string): void {
    const key = callKey(pbxId, callId);
    const previous = this.chains.get(key) ?? Promise.resolve();
    const next = previous.then(task).catch((err: unknown) => {
      this.options.metrics.errors.inc({ stage: 'pop' });
      this.options.logger.error({ pbx: pbxId, callId, ...(agent ? { agent } : {}), err: describeError(err) }, 'failed to handle call event');
    });
    this.chains.set(key, next);
    void next.finally(() => {
      if (this.chains.get(key) === next) this.chains.delete(key);
    });
  }
}

/** A pop's id within its PBX: one per agent per call. */
function shelfId(event: CallEvent): string {
  return `${event.callId}\u0000${event.agent.extension}`;
}

function customerAt(result: LookupResult, index: number): CustomerRef | null {
  const best = result.matches[index] ?? result.matches[0];
  return best ? { source: best.source, ...(best.id !== undefined ? { id: best.id } : {}) } : null;
}
