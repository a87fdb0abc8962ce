import type { AgentRef, CallDirection, CallEvent, CallEventKind, Party } from '../model/call-event.js';
import type { ActiveLeg, LegEvent } from '../model/leg-event.js';
import type { Logger } from '../model/logger.js';
import { silentLogger } from '../model/logger.js';
import type { LiveShelf } from '../store/live-state.js';

/**
 * Turns per-leg facts from either PBX into the call events agents see, with the rules of
 * DESIGN.md "Call-tracking rules": one `ringing` per agent leg, `missed` for agents that
 * rang but did not answer, transfers keep the call's id, and a resync after a reconnect
 * neither re-pops nor loses an `ended`.
 */

export interface CallTrackerOptions {
  /** Device (`PJSIP/1001`) to agent extension; null when the device is not an agent's. */
  agentForDevice(pbxId: string, device: string): string | null;
  logger?: Logger;
  /** Upper bound on tracked legs; past it the oldest is dropped with a warning. */
  maxLegs?: number;
  /** How many ended legs are remembered to ignore late duplicates (e.g. a second DialEnd). */
  endedMemory?: number;
  /** A leg alive longer than this is assumed lost (its hangup never came) and swept. */
  maxLegAgeMs?: number;
  /** How long a transfer waits for its target leg to ring. */
  transferWindowMs?: number;
  /** Where tracked legs are kept across restarts; none: in memory only. */
  shelf?: LiveShelf<TrackedLeg>;
}

type LegState = 'ringing' | 'dialing' | 'up';

/** One agent leg being followed. Plain data: the call store keeps it across restarts. */
export interface TrackedLeg {
  key: string;
  pbxId: string;
  legId: string;
  callId: string;
  agent: AgentRef;
  state: LegState;
  direction: CallDirection;
  caller: Party;
  callee: Party;
  queue?: string;
  did?: string;
  anonymous: boolean;
  transferredFrom?: string;
  /** Other leg ids of the same agent on the same call merged into this one (queue retries, Local halves). */
  aliases: string[];
  /**
   * This leg's own channel hung up while an alias lives on (Asterisk optimises a Local
   * channel away while the agent's PJSIP leg keeps talking): the agent's leg ends with
   * the last alias, with this cause.
   */
  ownGone?: { cause?: string };
  since: number;
}

/** What the first agent leg learnt about the call; a transfer target inherits it. */
interface CallOrigin {
  direction: CallDirection;
  caller: Party;
  queue?: string;
  did?: string;
  anonymous: boolean;
}

interface TrackedCall {
  key: string;
  legs: Set<string>;
  origin?: CallOrigin;
  /** Extension that transferred the call away, waiting for the target leg to ring. */
  transferFrom?: { extension: string; until: number };
}

export class CallTracker {
  private readonly legs = new Map<string, TrackedLeg>();
  /** Alias leg key -> canonical leg key. */
  private readonly aliases = new Map<string, string>();
  private readonly calls = new Map<string, TrackedCall>();
  /** Insertion-ordered set of recently ended leg keys (bounded). */
  private readonly ended = new Set<string>();
  private readonly logger: Logger;
  private readonly maxLegs: number;
  private readonly endedMemory: number;
  private readonly maxLegAgeMs: number;
  private readonly transferWindowMs: number;
  /** Legs closed to make room (tracker at its bound), reported with the next events out. */
  private evicted: CallEvent[] = [];

  constructor(private readonly options: CallTrackerOptions) {
    this.logger = options.logger ?? silentLogger;
    this.maxLegs = options.maxLegs ?? 50_000;
    this.endedMemory = options.endedMemory ?? 10_000;
    this.maxLegAgeMs = options.maxLegAgeMs ?? 12 * 3600_000;
    this.transferWindowMs = options.transferWindowMs ?? 60_000;
  }

  private evictedCount = 0;

  /** Legs closed so far because the tracker was at its bound. */
  get evictedLegs(): number {
    return this.evictedCount;
  }

  /**
   * Takes over the legs an earlier process was following (from the shelf), so the resync
   * after connecting finds them known: not popped again, and ended if the PBX lost them.
   */
  restore(): number {
    let restored = 0;
    for (const { value: leg } of this.options.shelf?.all() ?? []) {
      if (this.legs.has(leg.key)) continue;
      this.legs.set(leg.key, leg);
      for (const alias of leg.aliases) this.aliases.set(legKey(leg.pbxId, alias), leg.key);
      const call = this.callFor(leg.pbxId, leg.callId);
      call.legs.add(leg.key);
      call.origin ??= { direction: leg.direction, caller: leg.caller, queue: leg.queue, did: leg.did, anonymous: leg.anonymous };
      restored += 1;
    }
    return restored;
  }

  /** True while this leg (or a leg merged into it) is followed. */
  isLive(pbxId: string, legId: string): boolean {
    return this.resolve(pbxId, legId) !== undefined;
  }

  private persist(leg: TrackedLeg): void {
    this.options.shelf?.put(leg.pbxId, leg.legId, leg);
  }

  /** Number of agent legs currently tracked (ringing, dialing or up). */
  get size(): number {
    return this.legs.size;
  }

  /** Feeds one leg fact; returns the call events it causes (often none). */
  handle(event: LegEvent): CallEvent[] {
    return this.withEvicted(this.apply(event));
  }

  private apply(event: LegEvent): CallEvent[] {
    switch (event.type) {
      case 'leg-ringing':
        return this.onStart(event, 'ringing');
      case 'leg-dialing':
        return this.onStart(event, 'dialing');
      case 'leg-answered':
        return this.onAnswered(event);
      case 'leg-hangup':
        return this.onHangup(event);
      case 'call-transfer':
        return this.onTransfer(event);
    }
  }

  /** Evictions come first: they happened before the event that needed the room. */
  private withEvicted(out: CallEvent[]): CallEvent[] {
    if (this.evicted.length === 0) return out;
    const evicted = this.evicted;
    this.evicted = [];
    return [...evicted, ...out];
  }

  /**
   * Reconciles with the PBX's list of active legs after a (re)connect. Legs we tracked that
   * are gone get their `ended`/`missed`; legs still ringing that we never saw get their pop;
   * legs already up that we never saw are adopted silently so their `ended` is not lost.
   */
  resync(pbxId: string, active: readonly ActiveLeg[], now = Date.now()): CallEvent[] {
    const out: CallEvent[] = [];
    const seen = new Set<string>();
    for (const leg of active) {
      const key = this.resolve(pbxId, leg.legId);
      const tracked = key ? this.legs.get(key) : undefined;
      if (tracked) {
        seen.add(tracked.key);
        if (leg.state === 'up' && tracked.state !== 'up') {
          tracked.state = 'up';
          this.persist(tracked);
          out.push(this.toEvent(tracked, 'answered', now));
        }
        continue;
      }
      const agent = this.agentOf(pbxId, leg.device);
      if (!agent) continue;
      const base: LegEvent = {
        type: leg.direction === 'outbound' ? 'leg-dialing' : 'leg-ringing',
        pbxId,
        callId: leg.callId,
        legId: leg.legId,
        device: leg.device,
        direction: leg.direction,
        caller: leg.caller,
        callee: leg.callee,
        at: leg.startedAt ?? now,
      };
      if (leg.state === 'up') {
        // Began while nobody watched and is up now: the agent is popped once (the call is
        // theirs) and the call's record starts when the PBX says it did.
        const started = this.onStart(base, base.type === 'leg-dialing' ? 'dialing' : 'ringing');
        const adopted = this.resolve(pbxId, leg.legId);
        const tracked = adopted ? this.legs.get(adopted) : undefined;
        if (tracked) {
          seen.add(tracked.key);
          out.push(...started);
          if (tracked.state !== 'up') {
            tracked.state = 'up';
            this.persist(tracked);
            out.push(this.toEvent(tracked, 'answered', now));
          }
        }
      } else if (leg.state === 'ringing') {
        const events = this.onStart(base, base.type === 'leg-dialing' ? 'dialing' : 'ringing');
        out.push(...events);
        const key2 = this.resolve(pbxId, leg.legId);
        if (key2) seen.add(key2);
      }
    }
    for (const tracked of [...this.legs.values()]) {
      if (tracked.pbxId !== pbxId || seen.has(tracked.key)) continue;
      out.push(this.finish(tracked, now, 'gone after PBX reconnect', { estimated: true }));
    }
    return this.withEvicted(out);
  }

  /** Drops legs whose hangup never came (bounded memory across PBX bugs and lost events). */
  sweep(now = Date.now()): CallEvent[] {
    const out: CallEvent[] = [];
    for (const leg of [...this.legs.values()]) {
      if (now - leg.since > this.maxLegAgeMs) {
        this.logger.warn({ pbx: leg.pbxId, callId: leg.callId, agent: leg.agent.extension }, 'leg exceeded max age, closing it');
        out.push(this.finish(leg, now, 'exceeded max leg age', { estimated: true, lostTrack: true, kind: 'ended' }));
      }
    }
    for (const call of this.calls.values()) {
      if (call.transferFrom && call.transferFrom.until < now) {
        call.transferFrom = undefined;
        this.dropCallIfIdle(call);
      }
    }
    return this.withEvicted(out);
  }

  private onStart(event: LegEvent, state: 'ringing' | 'dialing'): CallEvent[] {
    const key = legKey(event.pbxId, event.legId);
    const existing = this.resolve(event.pbxId, event.legId);
    if (existing === key) {
      const moved = this.moveToTransferredCall(event, state);
      if (moved) return moved;
    }
    if (existing || this.ended.has(key)) return [];
    const agent = this.agentOf(event.pbxId, event.device);
    if (!agent) return [];

    // Same agent already alive on this call (queue retry of the same member, a Local
    // channel's second half, forwarding back to the same device): one pop, not two.
    const call = this.calls.get(callKey(event.pbxId, event.callId));
    if (call) {
      for (const otherKey of call.legs) {
        const other = this.legs.get(otherKey);
        if (other && other.agent.extension === agent.extension && other.state !== 'up') {
          other.aliases.push(event.legId);
          this.aliases.set(key, other.key);
          this.persist(other);
          return [];
        }
      }
    }

    const leg = this.track(event, agent, state, event.at);
    if (!leg) return [];
    return [this.toEvent(leg, state === 'dialing' ? 'dialing' : 'ringing', event.at)];
  }

  /**
   * Attended transfer: the target agent's leg was already up on the consultation call;
   * after `call-transfer` on the customer's call it is announced again on that call. The
   * consultation ends for that agent (`ended`), and the leg starts over on the customer's
   * call with its caller and `transferredFrom` (a fresh pop with the customer's data).
   * Only inside a pending transfer window; otherwise a repeated start stays ignored.
   */
  private moveToTransferredCall(event: LegEvent, state: 'ringing' | 'dialing'): CallEvent[] | null {
    const key = legKey(event.pbxId, event.legId);
    const leg = this.legs.get(key);
    if (!leg || leg.callId === event.callId) return null;
    const target = this.calls.get(callKey(event.pbxId, event.callId));
    if (!target?.transferFrom || target.transferFrom.until < event.at) return null;
    if (target.transferFrom.extension === leg.agent.extension) return null;
    const out = [this.finish(leg, event.at, 'attended transfer')];
    this.ended.delete(key);
    const moved = this.track(event, leg.agent, state, event.at);
    if (moved) out.push(this.toEvent(moved, state === 'dialing' ? 'dialing' : 'ringing', event.at));
    return out;
  }

  private onAnswered(event: LegEvent): CallEvent[] {
    const key = this.resolve(event.pbxId, event.legId);
    const leg = key ? this.legs.get(key) : undefined;
    if (!leg) return [];
    if (leg.state === 'up') return [];
    leg.state = 'up';
    // The answer may carry a better caller (Asterisk fills ConnectedLine late on queue legs).
    if (!leg.caller.number && event.caller.number) leg.caller = event.caller;
    this.persist(leg);
    return [this.toEvent(leg, 'answered', event.at)];
  }

  private onHangup(event: LegEvent): CallEvent[] {
    const key = this.resolve(event.pbxId, event.legId);
    const leg = key ? this.legs.get(key) : undefined;
    if (!leg) return [];
    if (key !== legKey(event.pbxId, event.legId)) {
      // An alias half hung up (e.g. one Local half); the agent's leg goes on, unless its
      // own channel is already gone and this was the last alias.
      this.aliases.delete(legKey(event.pbxId, event.legId));
      this.remember(legKey(event.pbxId, event.legId));
      leg.aliases = leg.aliases.filter((id) => id !== event.legId);
      if (leg.ownGone && leg.aliases.length === 0) return [this.finish(leg, event.at, leg.ownGone.cause ?? event.cause)];
      this.persist(leg);
      return [];
    }
    if (leg.aliases.length > 0) {
      // Local channel optimisation: the Local half the pop started on goes away while the
      // agent's real device leg (an alias) still rings or talks. Wait for the last alias.
      leg.ownGone ??= { cause: event.cause };
      this.persist(leg);
      return [];
    }
    return [this.finish(leg, event.at, event.cause)];
  }

  private onTransfer(event: LegEvent): CallEvent[] {
    const key = this.resolve(event.pbxId, event.legId);
    const leg = key ? this.legs.get(key) : undefined;
    const call = this.callFor(event.pbxId, event.callId);
    const from = leg?.agent.extension ?? this.agentOf(event.pbxId, event.device)?.extension;
    if (!from) return [];
    call.transferFrom = { extension: from, until: event.at + this.transferWindowMs };
    if (!leg) return [];
    const out = this.toEvent(leg, 'transferred', event.at);
    if (event.callee.number) out.callee = event.callee;
    return [out];
  }

  private track(event: LegEvent, agent: AgentRef, state: LegState, now: number): TrackedLeg | null {
    if (this.legs.size >= this.maxLegs) this.evictOldest();
    const call = this.callFor(event.pbxId, event.callId);
    let transferredFrom: string | undefined;
    if (call.transferFrom && call.transferFrom.until >= now && call.transferFrom.extension !== agent.extension) {
      transferredFrom = call.transferFrom.extension;
      call.transferFrom = undefined;
    }
    // A transfer target inherits the call's caller: the PBX may show the transferring agent.
    const known = transferredFrom ? call.origin : undefined;
    const leg: TrackedLeg = {
      key: legKey(event.pbxId, event.legId),
      pbxId: event.pbxId,
      legId: event.legId,
      callId: event.callId,
      agent,
      state,
      direction: known?.direction ?? event.direction,
      caller: known?.caller ?? event.caller,
      callee: event.callee,
      queue: event.queue ?? known?.queue,
      did: event.did ?? known?.did,
      anonymous: known?.anonymous ?? event.anonymous ?? false,
      transferredFrom,
      aliases: [],
      since: now,
    };
    this.legs.set(leg.key, leg);
    this.persist(leg);
    call.legs.add(leg.key);
    call.origin ??= { direction: leg.direction, caller: leg.caller, queue: leg.queue, did: leg.did, anonymous: leg.anonymous };
    return leg;
  }

  /**
   * Ends a leg. `estimated`: the PBX did not report this end (callpop closed the leg itself),
   * so `at` is only the best time known and a ringing leg is not known to be missed.
   */
  private finish(leg: TrackedLeg, at: number, cause?: string, how: { estimated?: boolean; lostTrack?: boolean; kind?: CallEventKind } = {}): CallEvent {
    const kind: CallEventKind = how.kind ?? (leg.state === 'ringing' ? 'missed' : 'ended');
    const out = this.toEvent(leg, kind, at);
    if (cause) out.cause = cause;
    if (how.estimated) out.estimatedEnd = true;
    if (how.lostTrack) out.lostTrack = true;
    this.legs.delete(leg.key);
    this.options.shelf?.remove(leg.pbxId, leg.legId);
    this.remember(leg.key);
    for (const alias of leg.aliases) {
      const aliasKey = legKey(leg.pbxId, alias);
      this.aliases.delete(aliasKey);
      this.remember(aliasKey);
    }
    const call = this.calls.get(callKey(leg.pbxId, leg.callId));
    if (call) {
      call.legs.delete(leg.key);
      this.dropCallIfIdle(call);
    }
    return out;
  }

  private dropCallIfIdle(call: TrackedCall): void {
    if (call.legs.size === 0 && !call.transferFrom) this.calls.delete(call.key);
  }

  private evictOldest(): void {
    const oldest = this.legs.values().next().value;
    if (!oldest) return;
    if (this.evictedCount++ === 0) this.logger.warn({ pbx: oldest.pbxId, callId: oldest.callId, maxLegs: this.maxLegs }, 'tracked legs at their limit: closing the oldest (logged once; see evictedLegs)');
    // Closed, not forgotten: its agent's pop must close too, and its record says the end is not known.
    this.evicted.push(this.finish(oldest, Date.now(), 'evicted: tracked legs at their limit', { estimated: true, lostTrack: true, kind: 'ended' }));
  }

  private remember(key: string): void {
    this.ended.delete(key);
    this.ended.add(key);
    if (this.ended.size > this.endedMemory) {
      const first = this.ended.values().next().value;
      if (first !== undefined) this.ended.delete(first);
    }
  }

  private resolve(pbxId: string, legId: string): string | undefined {
    const key = legKey(pbxId, legId);
    if (this.legs.has(key)) return key;
    return this.aliases.get(key);
  }

  private callFor(pbxId: string, callId: string): TrackedCall {
    const key = callKey(pbxId, callId);
    let call = this.calls.get(key);
    if (!call) {
      call = { key, legs: new Set() };
      this.calls.set(key, call);
    }
    return call;
  }

  private agentOf(pbxId: string, device: string): AgentRef | null {
    const extension = this.options.agentForDevice(pbxId, device);
    return extension ? { extension, device } : null;
  }

  private toEvent(leg: TrackedLeg, kind: CallEventKind, at: number): CallEvent {
    const event: CallEvent = {
      kind,
      callId: leg.callId,
      legId: leg.legId,
      pbxId: leg.pbxId,
      direction: leg.direction,
      caller: leg.caller,
      callee: leg.callee,
      agent: leg.agent,
      anonymous: leg.anonymous,
      at,
    };
    if (leg.queue) event.queue = leg.queue;
    if (leg.did) event.did = leg.did;
    if (leg.transferredFrom) event.transferredFrom = leg.transferredFrom;
    return event;
  }
}

function legKey(pbxId: string, legId: string): string {
  return `${pbxId}\u0000${legId}`;
}

function callKey(pbxId: string, callId: string): string {
  return `${pbxId}\u0000${callId}`;
}
