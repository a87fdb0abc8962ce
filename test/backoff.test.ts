import assert from 'node:assert/strict';
import { backoffDelay } from '../src/model/backoff.js';
import { PROBE_CAP_MS, reconnectDelay } from '../src/pbx/reconnect-policy.js';

const noJitter = (): number => 0;
const fullJitter = (): number => 0.999_999;

describe('backoff', () => {
  it('doubles from the initial delay up to the cap', () => {
    const policy = { initialMs: 100, maxMs: 1000, jitter: 0 };
    assert.deepEqual([0, 1, 2, 3, 4, 5].map((n) => backoffDelay(n, policy)), [100, 200, 400, 800, 1000, 1000]);
  });

  it('takes at most the jitter fraction off, never adding to the cap', () => {
    const policy = { initialMs: 1000, maxMs: 1000, jitter: 0.2 };
    assert.equal(backoffDelay(0, policy, noJitter), 1000);
    assert.equal(backoffDelay(0, policy, fullJitter), 800);
    for (let i = 0; i < 200; i++) {
      const d = backoffDelay(i % 40, policy);
      assert.ok(d >= 800 && d <= 1000, `delay ${d}`);
    }
  });

  it('stays finite and capped for a huge attempt count', () => {
    assert.equal(backoffDelay(10_000, { initialMs: 500, maxMs: 30_000, jitter: 0 }), 30_000);
  });

  it('waits at least 1 ms', () => {
    assert.equal(backoffDelay(0, { initialMs: 0, maxMs: 10, jitter: 0 }), 1);
  });
});

describe('reconnect policy', () => {
  const defaults = { initialMs: 500, maxMs: 30_000 };

  it('probes a refused or dropped PBX at least once a second however many attempts failed', () => {
    for (const kind of ['connect', 'dropped', 'protocol'] as const) {
      for (let attempt = 0; attempt < 100; attempt++) {
        const d = reconnectDelay(kind, attempt, defaults, noJitter);
        assert.ok(d <= PROBE_CAP_MS, `${kind} attempt ${attempt}: ${d} ms`);
      }
    }
    assert.equal(reconnectDelay('connect', 0, defaults, noJitter), 500);
    assert.equal(reconnectDelay('connect', 50, defaults, noJitter), 1000);
  });

  it('reconnects at once after the first protocol error, then probes like a refused connect', () => {
    assert.equal(reconnectDelay('protocol', 0, defaults), 0);
    assert.equal(reconnectDelay('protocol', 1, defaults, noJitter), 1000);
  });

  it('backs off a refused login exponentially up to max_ms, never faster than the probe', () => {
    const delays = [0, 1, 2, 3, 4, 5, 6, 7].map((n) => reconnectDelay('auth', n, defaults, noJitter));
    assert.deepEqual(delays, [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
    for (let n = 0; n < 8; n++) assert.ok(reconnectDelay('auth', n, defaults, fullJitter) >= reconnectDelay('connect', n, defaults, noJitter) * 0.8);
  });

  it('honours a max_ms below a second for every kind of failure', () => {
    const small = { initialMs: 20, maxMs: 200 };
    assert.equal(reconnectDelay('auth', 0, small, noJitter), 200);
    assert.equal(reconnectDelay('connect', 10, small, noJitter), 200);
  });
});
