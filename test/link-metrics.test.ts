import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { registerLinkMetrics, type LinkStatsSource } from '../src/observability/link-metrics.js';
import type { LinkStats } from '../src/pbx/pbx-adapter.js';

function stats(partial: Partial<LinkStats>): LinkStats {
  return { connectAttempts: 0, connects: 0, disconnects: 0, authFailures: 0, bytesIn: 0, framesIn: 0, framesDropped: 0, protocolErrors: 0, ...partial };
}

describe('PBX link metrics', () => {
  it('exports each PBX link counter with a pbx label, read at scrape time', async () => {
    const registry = new Registry();
    const current = new Map<string, LinkStats>([
      ['ast-1', stats({ connectAttempts: 7, connects: 2, disconnects: 1, bytesIn: 4096, framesIn: 50, framesDropped: 1, protocolErrors: 1 })],
      ['fs-1', stats({ connectAttempts: 3, authFailures: 3 })],
    ]);
    const adapters = (): LinkStatsSource[] => [...current].map(([id]) => ({ id, linkStats: () => current.get(id)! }));
    registerLinkMetrics(registry, adapters);

    let text = await registry.metrics();
    assert.match(text, /^callpop_pbx_connect_attempts_total\{pbx="ast-1"\} 7$/m);
    assert.match(text, /^callpop_pbx_received_bytes_total\{pbx="ast-1"\} 4096$/m);
    assert.match(text, /^callpop_pbx_frames_dropped_total\{pbx="ast-1"\} 1$/m);
    assert.match(text, /^callpop_pbx_protocol_errors_total\{pbx="ast-1"\} 1$/m);
    assert.match(text, /^callpop_pbx_auth_failures_total\{pbx="fs-1"\} 3$/m);
    assert.match(text, /^callpop_pbx_connects_total\{pbx="fs-1"\} 0$/m);

    // The next scrape shows the link's new totals, not a sum of scrapes.
    current.set('ast-1', stats({ connectAttempts: 9, connects: 3 }));
    text = await registry.metrics();
    assert.match(text, /^callpop_pbx_connect_attempts_total\{pbx="ast-1"\} 9$/m);
    assert.match(text, /^callpop_pbx_connects_total\{pbx="ast-1"\} 3$/m);
    assert.match(text, /^# TYPE callpop_pbx_frames_total counter$/m);
  });
});
