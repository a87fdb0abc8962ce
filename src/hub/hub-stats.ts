import type { Logger } from '../model/logger.js';

/** What the hub had to refuse or drop to protect itself, counted since start (monotonic). */
export interface HubDropCounts {
  /** Upgrades refused: the remote address already had `max_unauthenticated_per_address` sockets waiting for hello. */
  unauthenticatedRefused: number;
  /** Sockets waiting for hello closed (4001) to make room when `max_unauthenticated` was full. */
  unauthenticatedEvicted: number;
  /** Sockets closed (4001) for not sending hello within `hello_timeout_ms`. */
  helloTimeouts: number;
  /** Hellos with an unknown token (close 4003). */
  authFailures: number;
  /** Hellos refused (4429) because their address failed too often. */
  hellosThrottled: number;
  /** Detached sessions forgotten before their replay window ended, to make room for new ones. */
  sessionsEvicted: number;
  /** Hellos refused (4409) because every session their token may hold is live. */
  sessionsRefused: number;
  /** Connections refused (HTTP 503 or 4503) at `max_connections` authenticated agents. */
  connectionsRefused: number;
  /** Clients dropped (4008) past `max_buffered_bytes`. */
  slowClientsDropped: number;
  /** WebSocket upgrades refused (HTTP 403) for their `Origin`. */
  originsRefused: number;
  /** Malformed client messages and frames (bad JSON, schema, order, invalid UTF-8, oversized). */
  badMessages: number;
  /** HTTP requests refused (413) for a body larger than any route reads. */
  httpBodiesRefused: number;
}

/** `HubServer.stats()`: the drop counters plus the current sizes, all plain numbers. */
export interface HubStats extends HubDropCounts {
  /** Open WebSocket connections, authenticated or not. */
  connections: number;
  /** Connections that said a valid hello. */
  authenticated: number;
  /** Connections still waiting for hello. */
  unauthenticated: number;
  /** Sessions kept, live or detached. */
  sessions: number;
}

export type DropCause = keyof HubDropCounts;

/**
 * Counts every drop, and logs each cause at most once per window with how many were not
 * logged: one line per flood, not one per frame (a log line per bad frame would hand an
 * attacker the disk).
 */
export class DropCounter {
  private readonly counts: HubDropCounts = {
    unauthenticatedRefused: 0,
    unauthenticatedEvicted: 0,
    helloTimeouts: 0,
    authFailures: 0,
    hellosThrottled: 0,
    sessionsEvicted: 0,
    sessionsRefused: 0,
    connectionsRefused: 0,
    slowClientsDropped: 0,
    originsRefused: 0,
    badMessages: 0,
    httpBodiesRefused: 0,
  };
  private readonly lastLogged = new Map<DropCause, { at: number; countThen: number }>();

  constructor(
    private readonly logger: Logger,
    private readonly windowMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Counts one drop of `cause`; logs `message` with `fields` unless this cause was logged within the window. */
  drop(cause: DropCause, message: string, fields: Record<string, unknown> = {}, by = 1): void {
    this.counts[cause] += by;
    const now = this.now();
    const last = this.lastLogged.get(cause);
    if (last && now - last.at < this.windowMs) return;
    const unlogged = last ? this.counts[cause] - last.countThen - by : 0;
    this.lastLogged.set(cause, { at: now, countThen: this.counts[cause] });
    this.logger.warn({ ...fields, cause, total: this.counts[cause], ...(unlogged > 0 ? { notLogged: unlogged } : {}) }, `${message} (logged once per ${Math.round(this.windowMs / 1000)} s)`);
  }

  snapshot(): HubDropCounts {
    return { ...this.counts };
  }
}
