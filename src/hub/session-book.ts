import { randomUUID } from 'node:crypto';
import type { HubToken } from './hub-config.js';
import { HubSession, type ReplayLimits } from './hub-session.js';

export interface SessionLimits {
  /** Sessions of all tokens together, live plus detached. */
  total: number;
  /** Sessions one token may hold, live plus detached. */
  perToken: (token: HubToken) => number;
  /** How long a detached session is kept for `resume`. */
  replayWindowMs: number;
  replay: ReplayLimits;
}

export type SessionOpening =
  | { session: HubSession; evicted: number }
  /** Every session the token may hold has a live connection: evicting one would cut an agent off. */
  | { session: null; evicted: number };

/**
 * The hub's sessions, by id, by token and by subscribed agent. Bounded per token (issue 13,
 * finding 7: one token reconnecting in a loop held twice max_connections sessions, each
 * buffering replay, for the whole window) and in total; when a bound is reached the oldest
 * detached session goes first, and a live one never does.
 */
export class SessionBook {
  private readonly byId = new Map<string, HubSession>();
  /** Insertion order is age, per token. */
  private readonly byToken = new Map<HubToken, Set<HubSession>>();
  /** agent extension (or `*`) -> sessions subscribed to it */
  private readonly subscribers = new Map<string, Set<HubSession>>();

  constructor(private readonly limits: SessionLimits) {}

  get size(): number {
    return this.byId.size;
  }

  get(id: string): HubSession | undefined {
    return this.byId.get(id);
  }

  countFor(token: HubToken): number {
    return this.byToken.get(token)?.size ?? 0;
  }

  /** A new session for `token`, after making room; `session: null` when the token's bound is all live. */
  open(token: HubToken, now: number): SessionOpening {
    this.sweep(now);
    let evicted = 0;
    const mine = this.byToken.get(token) ?? new Set<HubSession>();
    const limit = this.limits.perToken(token);
    for (const session of mine) {
      if (mine.size < limit) break;
      if (!session.socket) {
        this.forget(session);
        evicted += 1;
      }
    }
    if (mine.size >= limit) return { session: null, evicted };
    for (const session of this.byId.values()) {
      if (this.byId.size < this.limits.total) break;
      if (!session.socket) {
        this.forget(session);
        evicted += 1;
      }
    }
    const session = new HubSession(randomUUID(), token, this.limits.replay);
    this.byId.set(session.id, session);
    mine.add(session);
    this.byToken.set(token, mine);
    return { session, evicted };
  }

  subscribe(session: HubSession, agents: readonly string[]): void {
    for (const agent of agents) {
      session.agents.add(agent);
      let set = this.subscribers.get(agent);
      if (!set) this.subscribers.set(agent, (set = new Set()));
      set.add(session);
    }
  }

  subscribersOf(agent: string): Iterable<HubSession> {
    return this.subscribers.get(agent) ?? [];
  }

  forget(session: HubSession): void {
    if (!this.byId.delete(session.id)) return;
    const mine = this.byToken.get(session.token);
    mine?.delete(session);
    if (mine?.size === 0) this.byToken.delete(session.token);
    for (const agent of session.agents) {
      const set = this.subscribers.get(agent);
      set?.delete(session);
      if (set?.size === 0) this.subscribers.delete(agent);
    }
  }

  /** Forgets sessions detached longer than the replay window. */
  sweep(now: number): void {
    const cutoff = now - this.limits.replayWindowMs;
    for (const session of this.byId.values()) {
      if (!session.socket && session.detachedAt <= cutoff) this.forget(session);
    }
  }
}
