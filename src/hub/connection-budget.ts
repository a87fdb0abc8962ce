/** Why an unauthenticated socket may not be admitted. */
export type BudgetRefusal = 'address';

export type Admission<T> = { admitted: true; evict: T | null } | { admitted: false; reason: BudgetRefusal };

export interface UnauthenticatedLimits {
  /** Sockets that have not said hello, all addresses together. */
  total: number;
  /** Sockets that have not said hello from one remote address. */
  perAddress: number;
}

/**
 * Accounts for sockets that have not yet said `hello`, apart from authenticated agents, so
 * that sockets which never authenticate cannot take the places of agents (issue 13, finding 6).
 *
 * One address past its own budget is refused. When the total budget is full, the oldest
 * waiting socket makes room instead of the new one being refused: an attacker with many
 * addresses then has to keep out-racing every agent's hello (one round trip) rather than
 * simply holding the door shut. Pure bookkeeping: no sockets, no timers.
 */
export class ConnectionBudget<T> {
  private readonly byAddress = new Map<string, number>();
  /** Insertion order is age: the first entry is the oldest waiting socket. */
  private readonly waiting = new Map<T, string>();

  constructor(private readonly limits: UnauthenticatedLimits) {}

  get size(): number {
    return this.waiting.size;
  }

  countFor(address: string): number {
    return this.byAddress.get(address) ?? 0;
  }

  /** Whether a new socket from `address` may wait for its hello; does not record it (see `add`). */
  admit(address: string): Admission<T> {
    if (this.countFor(address) >= this.limits.perAddress) return { admitted: false, reason: 'address' };
    if (this.waiting.size < this.limits.total) return { admitted: true, evict: null };
    const oldest = this.waiting.keys().next();
    return { admitted: true, evict: oldest.done ? null : oldest.value };
  }

  add(handle: T, address: string): void {
    if (this.waiting.has(handle)) return;
    this.waiting.set(handle, address);
    this.byAddress.set(address, this.countFor(address) + 1);
  }

  /** Forgets `handle` (it said hello, or closed); false when it was not waiting. */
  release(handle: T): boolean {
    const address = this.waiting.get(handle);
    if (address === undefined) return false;
    this.waiting.delete(handle);
    const left = this.countFor(address) - 1;
    if (left > 0) this.byAddress.set(address, left);
    else this.byAddress.delete(address);
    return true;
  }
}
