import assert from 'node:assert/strict';
import { CircuitBreaker } from '../src/lookup/circuit-breaker.js';

describe('circuit breaker', function () {
  let now = 0;
  const clock = (): number => now;
  beforeEach(function () {
    now = 1_000;
  });

  it('lets calls through while failures stay below the threshold', function () {
    const b = new CircuitBreaker(3, 1000, clock);
    b.failure();
    b.failure();
    assert.equal(b.tryAcquire(), true);
    assert.equal(b.state, 'closed');
  });

  it('opens after N consecutive failures', function () {
    const b = new CircuitBreaker(3, 1000, clock);
    for (let i = 0; i < 3; i++) b.failure();
    assert.equal(b.state, 'open');
    assert.equal(b.tryAcquire(), false);
  });

  it('counts only consecutive failures', function () {
    const b = new CircuitBreaker(2, 1000, clock);
    b.failure();
    b.success();
    b.failure();
    assert.equal(b.state, 'closed');
  });

  it('allows exactly one probe after the cool-down', function () {
    const b = new CircuitBreaker(1, 1000, clock);
    b.failure();
    now += 1000;
    assert.equal(b.tryAcquire(), true);
    assert.equal(b.state, 'half-open');
    assert.equal(b.tryAcquire(), false);
  });

  it('closes when the probe succeeds', function () {
    const b = new CircuitBreaker(1, 1000, clock);
    b.failure();
    now += 1000;
    b.tryAcquire();
    b.success();
    assert.equal(b.state, 'closed');
    assert.equal(b.tryAcquire(), true);
  });

  it('opens for another cool-down when the probe fails', function () {
    const b = new CircuitBreaker(5, 1000, clock);
    for (let i = 0; i < 5; i++) b.failure();
    now += 1000;
    b.tryAcquire();
    b.failure();
    assert.equal(b.state, 'open');
    now += 999;
    assert.equal(b.tryAcquire(), false);
    now += 1;
    assert.equal(b.tryAcquire(), true);
  });
});
