import type { CallEvent } from '../model/call-event.js';
import type { LookupResult } from '../model/customer.js';

/** A pop shown to one agent: kept while the call lasts, then for the wrap-up window if it can still be picked. */
export interface OpenPop {
  event: CallEvent;
  lookup?: Promise<LookupResult>;
  closedAt?: number;
}

export interface OpenPopsOptions {
  /** Bound on pops remembered at once; past it the oldest calls' pops are forgotten. */
  maxPops: number;
  /** How long after its call ends a pop may still be picked or updated (wrap-up). */
  windowMs: number;
  now?: () => number;
}

/**
 * The pops shown to agents, by call and agent, so a late lookup can update every pop of a
 * call and an agent's `pick` can re-render theirs. Kept by call, so the pops of one call are
 * found without looking at the others.
 */
export class OpenPops {
  private readonly byCall = new Map<string, Map<string, OpenPop>>();
  private count = 0;
  private readonly now: () => number;

  constructor(private readonly options: OpenPopsOptions) {
    this.now = options.now ?? Date.now;
  }

  get size(): number {
    return this.count;
  }

  /** A new pop for this agent on this call (it replaces the agent's earlier one there). */
  open(event: CallEvent): OpenPop {
    const key = callKey(event.pbxId, event.callId);
    const pops = this.byCall.get(key) ?? new Map<string, OpenPop>();
    // Re-inserted, so the calls stay ordered by their latest pop: the oldest are forgotten first.
    this.byCall.delete(key);
    this.byCall.set(key, pops);
    if (!pops.has(event.agent.extension)) this.count += 1;
    const pop: OpenPop = { event };
    pops.set(event.agent.extension, pop);
    this.evict();
    return pop;
  }

  /** The agent's pop on this call, unless it closed longer ago than the window. */
  get(pbxId: string, callId: string, agent: string): OpenPop | undefined {
    const pop = this.byCall.get(callKey(pbxId, callId))?.get(agent);
    return pop && this.current(pop) ? pop : undefined;
  }

  /** Every pop of this call still within the window. */
  ofCall(pbxId: string, callId: string): OpenPop[] {
    return [...(this.byCall.get(callKey(pbxId, callId))?.values() ?? [])].filter((pop) => this.current(pop));
  }

  /** The agent's pop is closed (missed, ended, transferred); it stays for the window. */
  close(pbxId: string, callId: string, agent: string): OpenPop | undefined {
    const pop = this.byCall.get(callKey(pbxId, callId))?.get(agent);
    if (pop) pop.closedAt = this.now();
    return pop;
  }

  /** Forgets `pop` (if it is still the agent's pop on its call). */
  forget(pop: OpenPop): void {
    const key = callKey(pop.event.pbxId, pop.event.callId);
    const pops = this.byCall.get(key);
    if (pops?.get(pop.event.agent.extension) !== pop) return;
    pops.delete(pop.event.agent.extension);
    this.count -= 1;
    if (pops.size === 0) this.byCall.delete(key);
  }

  private current(pop: OpenPop): boolean {
    return pop.closedAt === undefined || pop.closedAt >= this.now() - this.options.windowMs;
  }

  /** Oldest calls first: drop them past the bound, and those whose pops all closed past the window. */
  private evict(): void {
    for (const [key, pops] of this.byCall) {
      const expired = [...pops.values()].every((pop) => !this.current(pop));
      if (this.count <= this.options.maxPops && !expired) return;
      this.byCall.delete(key);
      this.count -= pops.size;
    }
  }
}

function callKey(pbxId: string, callId: string): string {
  return `${pbxId}\u0000${callId}`;
}
