import { Counter, Gauge, type Registry } from 'prom-client';
import type { HubDropCounts, HubStats } from '../hub/hub-stats.js';

/** What the daemon dropped or closed to protect itself, read at scrape time. */
export interface GuardSources {
  hub(): HubStats;
  /** Call legs the tracker closed because it was at its bound. */
  evictedLegs(): number;
  /** Pops kept (live, or closed but still pickable). */
  pops(): number;
}

const HUB_DROPS: ReadonlyArray<keyof HubDropCounts> = [
  'unauthenticatedRefused',
  'unauthenticatedEvicted',
  'helloTimeouts',
  'authFailures',
  'hellosThrottled',
  'sessionsEvicted',
  'sessionsRefused',
  'connectionsRefused',
  'slowClientsDropped',
  'originsRefused',
  'badMessages',
  'httpBodiesRefused',
];

/**
 * Registers the self-protection figures on `registry`: every cause the hub drops something
 * for, as `callpop_hub_dropped_total{cause}`, the hub's connection and session gauges, the
 * tracker's evictions and the pops kept. Logs say each cause once; these count every time.
 */
export function registerGuardMetrics(registry: Registry, sources: GuardSources): void {
  new Counter({
    name: 'callpop_hub_dropped_total',
    help: 'Connections, messages or sessions the hub refused or closed to protect itself, by cause',
    labelNames: ['cause'],
    registers: [registry],
    collect() {
      this.reset();
      const stats = sources.hub();
      for (const cause of HUB_DROPS) this.inc({ cause }, stats[cause] ?? 0);
    },
  });
  new Gauge({
    name: 'callpop_hub_connections',
    help: 'Open agent WebSocket connections',
    registers: [registry],
    collect() {
      this.set(sources.hub().connections);
    },
  });
  new Gauge({
    name: 'callpop_hub_sockets',
    help: 'Open agent WebSocket connections by state (authenticated, unauthenticated) and sessions kept',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const stats = sources.hub();
      this.set({ state: 'authenticated' }, stats.authenticated);
      this.set({ state: 'unauthenticated' }, stats.unauthenticated);
      this.set({ state: 'sessions' }, stats.sessions);
    },
  });
  new Counter({
    name: 'callpop_tracker_evicted_legs_total',
    help: 'Call legs closed because the tracker was at its bound (their records say outcome unknown)',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(sources.evictedLegs());
    },
  });
  new Gauge({
    name: 'callpop_pops_kept',
    help: 'Pops kept in memory: live, or closed but still pickable',
    registers: [registry],
    collect() {
      this.set(sources.pops());
    },
  });
}
