import type { CallEvent } from '../model/call-event.js';
import type { LookupResult } from '../model/customer.js';

/**
 * Where one agent's pop stands. A pop only moves forward: ringing -> answered -> closed, or
 * straight to closed. Nothing reopens a closed pop (a late lookup or a `pick` during wrap-up
 * re-renders it for its agent, but it stays closed), so an ended call never comes back as
 * ringing for a later subscriber.
 */
export type PopState = 'ringing' | 'answered' | 'closed';

/** The pop shown to one agent on one call. */
export interface AgentPop {
  /** The ringing/dialing event the pop was made for. */
  readonly event: CallEvent;
  state: PopState;
  closedAt?: number;
  /**
   * The pop or update as last sent to this agent, per token role (the first role is the one
   * a session without its own variant gets): what a client subscribing now is shown.
   */
  rendered?: RenderedPop;
}

/** A rendered pop message per role, as objects (a snapshot adds its own fields to them). */
export type RenderedPop = Record<string, object>;

/** What the pop stage knows of one call: its lookup (shared by every agent leg) and its pops. */
export interface PopCall {
  readonly key: string;
  lookup?: Promise<LookupResult>;
  /** The settled lookup, once it is complete (no `update` pending). */
  settled?: LookupResult;
  /** Index of the match the agents see (0 unless an agent picked another). */
  selected: number;
  readonly pops: Map<string, AgentPop>;
  /** Set while a transfer target may still ring: the call's lookup is kept for it. */
  transferUntil?: number;
}

export interface PopBookOptions {
  /** Bound on pops remembered at once; past it the oldest calls' closed pops are forgotten. */
  maxPops: number;
  /** How long after its call ends a pop may still be picked or updated (wrap-up). */
  windowMs: number;
  now?: () => number;
}

/**
 * The pops shown to agents, by call and by agent: a late lookup finds every pop of its call,
 * an agent's `pick` finds theirs, and a client subscribing to an agent finds that agent's
 * live pops, each without looking at the others.
 */
export class PopBook {
  private readonly calls = new Map<string, PopCall>();
  /** Live (ringing or answered) pops by agent extension. */
  private readonly live = new Map<string, Set<AgentPop>>();
  private count = 0;
  private readonly now: () => number;

  constructor(private readonly options: PopBookOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Pops remembered (live, and closed within the wrap-up window). */
  get size(): number {
    return this.count;
  }

  /** Calls remembered. */
  get callCount(): number {
    return this.calls.size;
  }

  /** The call's entry, created on first use. */
  call(pbxId: string, callId: string): PopCall {
    const key = callKey(pbxId, callId);
    let call = this.calls.get(key);
    if (!call) {
      call = { key, selected: 0, pops: new Map() };
      this.calls.set(key, call);
    }
    return call;
  }

  findCall(pbxId: string, callId: string): PopCall | undefined {
    return this.calls.get(callKey(pbxId, callId));
  }

  /** A new ringing pop for this agent on this call (it replaces the agent's earlier one there). */
  open(event: CallEvent): AgentPop {
    const key = callKey(event.pbxId, event.callId);
    const call = this.call(event.pbxId, event.callId);
    // Re-inserted, so the calls stay ordered by their latest pop: the oldest go first.
    this.calls.delete(key);
    this.calls.set(key, call);
    const previous = call.pops.get(event.agent.extension);
    if (previous) this.unindex(previous);
    else this.count += 1;
    const pop: AgentPop = { event, state: 'ringing' };
    call.pops.set(event.agent.extension, pop);
    this.index(pop);
    this.evict();
    return pop;
  }

  /** The agent's pop on this call, unless it closed longer ago than the window. */
  get(pbxId: string, callId: string, agent: string): AgentPop | undefined {
    const pop = this.calls.get(callKey(pbxId, callId))?.pops.get(agent);
    return pop && this.current(pop) ? pop : undefined;
  }

  /** Every pop of this call still within the window. */
  ofCall(pbxId: string, callId: string): AgentPop[] {
    return [...(this.calls.get(callKey(pbxId, callId))?.pops.values() ?? [])].filter((pop) => this.current(pop));
  }

  /** Live pops of these agents (`*`: every agent), oldest call first within an agent. */
  liveFor(agents: readonly string[]): AgentPop[] {
    if (agents.includes('*')) return [...this.live.values()].flatMap((set) => [...set]);
    return agents.flatMap((agent) => [...(this.live.get(agent) ?? [])]);
  }

  /**
   * Puts back a pop an earlier process left live (call store), without reopening anything:
   * a pop already known here wins.
   */
  restore(event: CallEvent, state: 'ringing' | 'answered', rendered?: RenderedPop): AgentPop | undefined {
    const call = this.call(event.pbxId, event.callId);
    if (call.pops.has(event.agent.extension)) return undefined;
    const pop: AgentPop = { event, state, ...(rendered ? { rendered } : {}) };
    call.pops.set(event.agent.extension, pop);
    this.count += 1;
    this.index(pop);
    return pop;
  }

  /** The agent answered: the pop stays live (not ringing any more). */
  answer(pbxId: string, callId: string, agent: string): AgentPop | undefined {
    const pop = this.calls.get(callKey(pbxId, callId))?.pops.get(agent);
    if (pop && pop.state === 'ringing') pop.state = 'answered';
    return pop;
  }

  /** The agent's pop is over (missed, ended, transferred); it stays for the window. */
  close(pbxId: string, callId: string, agent: string): AgentPop | undefined {
    const pop = this.calls.get(callKey(pbxId, callId))?.pops.get(agent);
    if (pop && pop.state !== 'closed') {
      pop.state = 'closed';
      pop.closedAt = this.now();
      this.unindex(pop);
    }
    return pop;
  }

  /** Forgets `pop` (if it is still the agent's pop on its call), and its call once nothing else holds it. */
  forget(pop: AgentPop): void {
    const call = this.calls.get(callKey(pop.event.pbxId, pop.event.callId));
    if (!call || call.pops.get(pop.event.agent.extension) !== pop) return;
    call.pops.delete(pop.event.agent.extension);
    this.unindex(pop);
    this.count -= 1;
    this.dropIfIdle(call);
  }

  /** Forgets the call if it has no pops left and no transfer target is expected. */
  dropIfIdle(call: PopCall): void {
    if (call.pops.size > 0) return;
    if (call.transferUntil !== undefined && call.transferUntil >= this.now()) return;
    this.calls.delete(call.key);
  }

  /** Drops what the window and the transfer grace no longer cover (called periodically). */
  sweep(): void {
    for (const call of [...this.calls.values()]) {
      for (const pop of [...call.pops.values()]) if (!this.current(pop)) this.forget(pop);
      this.dropIfIdle(call);
    }
  }

  private current(pop: AgentPop): boolean {
    return pop.closedAt === undefined || pop.closedAt >= this.now() - this.options.windowMs;
  }

  /**
   * Oldest calls first: past the bound, forget calls whose pops are all closed, and calls whose
   * pops all expired. Live pops are never forgotten here: the call tracker bounds the calls in
   * progress and closes what it evicts, which closes their pops.
   */
  private evict(): void {
    for (const call of this.calls.values()) {
      const pops = [...call.pops.values()];
      const expired = pops.every((pop) => !this.current(pop));
      if (this.count <= this.options.maxPops && !expired) return;
      if (pops.some((pop) => pop.state !== 'closed')) continue;
      this.calls.delete(call.key);
      this.count -= pops.length;
    }
  }

  private index(pop: AgentPop): void {
    const agent = pop.event.agent.extension;
    let set = this.live.get(agent);
    if (!set) this.live.set(agent, (set = new Set()));
    set.add(pop);
  }

  private unindex(pop: AgentPop): void {
    const agent = pop.event.agent.extension;
    const set = this.live.get(agent);
    set?.delete(pop);
    if (set?.size === 0) this.live.delete(agent);
  }
}

export function callKey(pbxId: string, callId: string): string {
  return `${pbxId}\u0000${callId}`;
}
