import assert from 'node:assert/strict';
import { parseClientMessage } from '../src/hub/client-message.js';
import { ConnectionBudget } from '../src/hub/connection-budget.js';
import { HelloThrottle } from '../src/hub/hello-throttle.js';
import type { HubToken } from '../src/hub/hub-config.js';
import { HubSession } from '../src/hub/hub-session.js';
import { DropCounter } from '../src/hub/hub-stats.js';
import { originAllowed } from '../src/hub/origin-policy.js';
import { SessionBook } from '../src/hub/session-book.js';
import type { Logger } from '../src/model/logger.js';

describe('unauthenticated connection budget', () => {
  it('refuses one address past its own budget while others are still admitted', () => {
    const budget = new ConnectionBudget<string>({ total: 100, perAddress: 2 });
    budget.add('a1', '10.0.0.1');
    budget.add('a2', '10.0.0.1');
    assert.deepEqual(budget.admit('10.0.0.1'), { admitted: false, reason: 'address' });
    assert.deepEqual(budget.admit('10.0.0.2'), { admitted: true, evict: null });
  });

  it('admits an address again once one of its sockets said hello or left', () => {
    const budget = new ConnectionBudget<string>({ total: 100, perAddress: 1 });
    budget.add('a1', '10.0.0.1');
    assert.equal(budget.admit('10.0.0.1').admitted, false);
    assert.equal(budget.release('a1'), true);
    assert.equal(budget.release('a1'), false, 'a second release must not free a second place');
    assert.equal(budget.countFor('10.0.0.1'), 0);
    assert.equal(budget.admit('10.0.0.1').admitted, true);
  });

  it('names the oldest waiting socket to close when the total is full', () => {
    const budget = new ConnectionBudget<string>({ total: 3, perAddress: 10 });
    budget.add('first', '10.0.0.1');
    budget.add('second', '10.0.0.2');
    budget.add('third', '10.0.0.3');
    assert.deepEqual(budget.admit('10.0.0.4'), { admitted: true, evict: 'first' });
    budget.release('first');
    budget.add('fourth', '10.0.0.4');
    assert.deepEqual(budget.admit('10.0.0.5'), { admitted: true, evict: 'second' });
    assert.equal(budget.size, 3);
  });
});

describe('hello throttle', () => {
  const limits = { maxFailures: 3, windowMs: 10_000, blockMs: 60_000 };

  it('blocks an address after maxFailures within the window, and only that address', () => {
    const throttle = new HelloThrottle(limits);
    assert.equal(throttle.fail('10.0.0.1', 0), false);
    assert.equal(throttle.fail('10.0.0.1', 1), false);
    assert.equal(throttle.fail('10.0.0.1', 2), true, 'the third failure starts the block');
    assert.equal(throttle.blocked('10.0.0.1', 3), true);
    assert.equal(throttle.blocked('10.0.0.2', 3), false);
  });

  it('reports the start of a block once, not on every failure during it', () => {
    const throttle = new HelloThrottle(limits);
    const starts = Array.from({ length: 20 }, (_, i) => throttle.fail('10.0.0.1', i)).filter(Boolean).length;
    assert.equal(starts, 1);
  });

  it('forgets failures older than the window', () => {
    const throttle = new HelloThrottle(limits);
    throttle.fail('10.0.0.1', 0);
    throttle.fail('10.0.0.1', 1);
    assert.equal(throttle.fail('10.0.0.1', 10_001), false);
    assert.equal(throttle.blocked('10.0.0.1', 10_002), false);
  });

  it('lifts the block after blockMs', () => {
    const throttle = new HelloThrottle(limits);
    for (let i = 0; i < 3; i++) throttle.fail('10.0.0.1', i);
    assert.equal(throttle.blocked('10.0.0.1', 60_001), true);
    assert.equal(throttle.blocked('10.0.0.1', 60_003), false);
  });

  it('remembers a bounded number of addresses however many fail', () => {
    const throttle = new HelloThrottle({ ...limits, maxAddresses: 100 });
    for (let i = 0; i < 5000; i++) throttle.fail(`2001:db8::${i.toString(16)}`, i);
    assert.ok(throttle.trackedAddresses <= 100, `${throttle.trackedAddresses} addresses kept`);
  });
});

describe('WebSocket origin policy', () => {
  it('allows clients that send no Origin (not a browser)', () => {
    assert.equal(originAllowed(undefined, 'hub.example:8080', []), true);
  });
  it('allows the page\'s own origin, with or without the default port', () => {
    assert.equal(originAllowed('http://hub.example:8080', 'hub.example:8080', []), true);
    assert.equal(originAllowed('http://hub.example', 'hub.example:80', []), true);
    assert.equal(originAllowed('https://hub.example', 'hub.example', []), true);
  });
  it('refuses another host or port, "null" and junk', () => {
    assert.equal(originAllowed('http://hub.example:9090', 'hub.example:8080', []), false);
    assert.equal(originAllowed('https://evil.example', 'hub.example:8080', []), false);
    assert.equal(originAllowed('null', 'hub.example:8080', []), false);
    assert.equal(originAllowed('javascript:alert(1)', 'hub.example:8080', []), false);
    assert.equal(originAllowed('http://hub.example:8080', undefined, []), false);
  });
  it('allows listed origins exactly, and any with "*"', () => {
    assert.equal(originAllowed('https://crm.example.com', 'hub:8080', ['https://crm.example.com']), true);
    assert.equal(originAllowed('https://crm.example.com:8443', 'hub:8080', ['https://crm.example.com']), false);
    assert.equal(originAllowed('https://anything.example', 'hub:8080', ['*']), true);
  });
});

describe('session replay buffer', () => {
  const token: HubToken = { token: 'token-x-1234', agents: ['1001'], role: 'agent', admin: false };
  const body = (n: number) => JSON.stringify({ type: 'pop', pad: 'x'.repeat(n) });

  it('keeps no more bytes than maxBytes however many messages it may keep', () => {
    const session = new HubSession('s', token, { maxMessages: 1000, maxBytes: 10_000 });
    for (let i = 0; i < 100; i++) session.stamp(body(1000));
    assert.ok(session.bufferedBytes <= 10_000, `${session.bufferedBytes} bytes buffered`);
    assert.ok(session.bufferedMessages >= 8);
  });

  it('cannot replay across a message too big to keep', () => {
    const session = new HubSession('s', token, { maxMessages: 1000, maxBytes: 5_000 });
    session.stamp(body(10));
    session.stamp(body(8_000));
    session.stamp(body(10));
    assert.equal(session.since(1), null);
    assert.equal(session.since(2)?.length, 1);
  });

  it('does not replay from a seq it never sent', () => {
    const session = new HubSession('s', token, { maxMessages: 10, maxBytes: 10_000 });
    session.stamp(body(10));
    assert.equal(session.since(5), null);
    assert.deepEqual(session.since(1), []);
  });
});

describe('session book', () => {
  const alice: HubToken = { token: 'token-alice-1001', agents: ['1001'], role: 'agent', admin: false };
  const bob: HubToken = { token: 'token-bob-1002', agents: ['1002'], role: 'agent', admin: false };
  const book = (perToken = 2, total = 100) =>
    new SessionBook({ total, perToken: () => perToken, replayWindowMs: 60_000, replay: { maxMessages: 10, maxBytes: 10_000 } });
  const live = { readyState: 1 } as unknown as NonNullable<ReturnType<SessionBook['get']>>['socket'];

  it('evicts only the token\'s own detached sessions, oldest first', () => {
    const b = book(2);
    const a1 = b.open(alice, 0).session;
    const a2 = b.open(alice, 0).session;
    const b1 = b.open(bob, 0).session;
    assert.ok(a1 && a2 && b1);
    const a3 = b.open(alice, 1);
    assert.equal(a3.evicted, 1);
    assert.equal(b.get(a1.id), undefined);
    assert.ok(b.get(a2.id) && b.get(b1.id));
  });

  it('refuses a new session when every session of the token is live', () => {
    const b = book(2);
    for (const s of [b.open(alice, 0).session, b.open(alice, 0).session]) if (s) s.socket = live;
    assert.deepEqual(b.open(alice, 1), { session: null, evicted: 0 });
    assert.ok(b.open(bob, 1).session, 'another token is not affected');
  });

  it('stops delivering to a forgotten session', () => {
    const b = book(1);
    const a1 = b.open(alice, 0).session;
    assert.ok(a1);
    b.subscribe(a1, ['1001']);
    b.open(alice, 1);
    assert.deepEqual([...b.subscribersOf('1001')], []);
  });
});

describe('drop counter', () => {
  it('counts every drop and logs each cause once per window, saying how many were not logged', () => {
    const lines: Record<string, unknown>[] = [];
    const logger = { warn: (o: object) => lines.push(o as Record<string, unknown>) } as unknown as Logger;
    let now = 0;
    const drops = new DropCounter(logger, 60_000, () => now);
    for (let i = 0; i < 100; i++) drops.drop('badMessages', 'bad');
    drops.drop('originsRefused', 'origin');
    now = 60_000;
    drops.drop('badMessages', 'bad');
    assert.equal(drops.snapshot().badMessages, 101);
    assert.equal(drops.snapshot().originsRefused, 1);
    assert.deepEqual(lines.map((l) => l.cause), ['badMessages', 'originsRefused', 'badMessages']);
    assert.equal(lines[2]?.notLogged, 99);
  });
});

describe('client message parsing', () => {
  for (const type of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
    it(`refuses a message of type ${type}, which an object's prototype would have let through`, () => {
      assert.throws(() => parseClientMessage(JSON.stringify({ type, seq: 1 })), /unknown message type/);
    });
  }

  it('accepts the protocol\'s own messages', () => {
    assert.equal(parseClientMessage('{"type":"ack","seq":3}').type, 'ack');
  });
});
