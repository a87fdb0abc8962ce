import { Counter, type Registry } from 'prom-client';
import type { LinkStats } from '../pbx/pbx-adapter.js';

/**
 * The PBX links' counters on /metrics, one series per PBX (`pbx` label). The links count
 * in plain numbers; these metrics read them at scrape time (prom-client `collect`), so
 * nothing runs per frame.
 */

/** What the metrics need of an adapter: its id and its counters. */
export interface LinkStatsSource {
  readonly id: string;
  linkStats(): LinkStats;
}

const COUNTERS: ReadonlyArray<{ key: keyof LinkStats; name: string; help: string }> = [
  { key: 'connectAttempts', name: 'callpop_pbx_connect_attempts_total', help: 'TCP/TLS connects tried to the PBX' },
  { key: 'connects', name: 'callpop_pbx_connects_total', help: 'Sessions that logged in (and subscribed)' },
  { key: 'disconnects', name: 'callpop_pbx_disconnects_total', help: 'Logged-in sessions that ended (not by shutdown)' },
  { key: 'authFailures', name: 'callpop_pbx_auth_failures_total', help: 'Logins or ACL/permission checks the PBX refused' },
  { key: 'bytesIn', name: 'callpop_pbx_received_bytes_total', help: 'Bytes received from the PBX' },
  { key: 'framesIn', name: 'callpop_pbx_frames_total', help: 'Frames decoded from the PBX' },
  { key: 'framesDropped', name: 'callpop_pbx_frames_dropped_total', help: 'Frames skipped (oversized, malformed) without dropping the link' },
  { key: 'protocolErrors', name: 'callpop_pbx_protocol_errors_total', help: 'Byte streams that could not be decoded; the link was reopened' },
];

/**
 * Registers the link counters on `registry`. `adapters` is read at every scrape, so a
 * reload that replaces adapters needs no re-registration. Each metric reads every
 * adapter's counters once per scrape.
 */
export function registerLinkMetrics(registry: Registry, adapters: () => Iterable<LinkStatsSource>): void {
  for (const { key, name, help } of COUNTERS) {
    new Counter({
      name,
      help,
      labelNames: ['pbx'],
      registers: [registry],
      collect() {
        // The link's totals are the truth; a replaced adapter starts again from zero, which
        // Prometheus' rate() reads as a counter reset.
        this.reset();
        for (const adapter of adapters()) {
          this.inc({ pbx: adapter.id }, adapter.linkStats()[key]);
        }
      },
    });
  }
}
