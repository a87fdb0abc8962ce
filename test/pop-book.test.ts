import assert from 'node:assert/strict';
import type { CallEvent } from '../src/model/call-event.js';
import { PopBook } from '../src/pops/pop-book.js';

function ringing(callId: string, agent: string): CallEvent {
  return {
    kind: 'ringing',
    pbxId: 'pbx',
    callId,
    legId: `${callId}-${agent}`,
    agent: { extension: agent, device: `PJSIP/${agent}` },
    direction: 'inbound',
    caller: { number: '+4930123456', name: null },
    callee: { number: agent, name: null },
    anonymous: false,
    at: 0,
  };
}

describe('pop book', () => {
  let clock = 0;
  const book = (maxPops = 100) => new PopBook({ maxPops, windowMs: 1000, now: () => clock });
  beforeEach(() => (clock = 0));

  it('finds the pops of one call, and one agent\'s pop on it', () => {
    const p = book();
    p.open(ringing('c1', '1001'));
    p.open(ringing('c1', '1002'));
    p.open(ringing('c2', '1001'));
    assert.deepEqual(p.ofCall('pbx', 'c1').map((x) => x.event.agent.extension), ['1001', '1002']);
    assert.equal(p.get('pbx', 'c2', '1001')?.event.callId, 'c2');
    assert.equal(p.get('pbx', 'c2', '1002'), undefined);
    assert.equal(p.size, 3);
  });

  it('keeps a closed pop for the window, then no longer gives it out', () => {
    const p = book();
    p.open(ringing('c1', '1001'));
    p.close('pbx', 'c1', '1001');
    clock = 1000;
    assert.ok(p.get('pbx', 'c1', '1001'));
    clock = 1001;
    assert.equal(p.get('pbx', 'c1', '1001'), undefined);
    assert.deepEqual(p.ofCall('pbx', 'c1'), []);
  });

  it('forgets a pop only while it is still the agent\'s pop on that call', () => {
    const p = book();
    const first = p.open(ringing('c1', '1001'));
    const second = p.open(ringing('c1', '1001'));
    p.forget(first);
    assert.equal(p.get('pbx', 'c1', '1001'), second);
    p.forget(second);
    assert.equal(p.get('pbx', 'c1', '1001'), undefined);
    assert.equal(p.size, 0);
    assert.equal(p.callCount, 0);
  });

  it('lists an agent\'s live pops, and never a closed one again', () => {
    const p = book();
    p.open(ringing('c1', '1001'));
    p.open(ringing('c2', '1001'));
    p.open(ringing('c3', '1002'));
    p.answer('pbx', 'c2', '1001');
    p.close('pbx', 'c1', '1001');
    assert.deepEqual(p.liveFor(['1001']).map((x) => [x.event.callId, x.state]), [['c2', 'answered']]);
    assert.deepEqual(p.liveFor(['*']).map((x) => x.event.callId).sort(), ['c2', 'c3']);
    // Answering or closing again does not bring a closed pop back.
    p.answer('pbx', 'c1', '1001');
    assert.equal(p.get('pbx', 'c1', '1001')?.state, 'closed');
    assert.deepEqual(p.liveFor(['1001']).map((x) => x.event.callId), ['c2']);
  });

  it('forgets the oldest closed calls past the bound, and calls whose pops all expired, but no live pop', () => {
    const p = book(3);
    for (const id of ['c1', 'c2', 'c3', 'c4']) p.open(ringing(id, '1001'));
    assert.equal(p.size, 4, 'live pops are closed by the tracker, never dropped here');
    p.close('pbx', 'c1', '1001');
    p.open(ringing('c5', '1001'));
    assert.equal(p.get('pbx', 'c1', '1001'), undefined, 'the oldest closed call went first');
    assert.equal(p.size, 4);
    p.close('pbx', 'c2', '1001');
    clock = 5000;
    p.open(ringing('c6', '1001'));
    assert.equal(p.get('pbx', 'c2', '1001'), undefined, 'c2 expired and was dropped');
    assert.deepEqual(['c3', 'c4', 'c5', 'c6'].map((id) => Boolean(p.get('pbx', id, '1001'))), [true, true, true, true]);
  });

  it('keeps a call with no pops left while a transfer target may still ring', () => {
    const p = book();
    const pop = p.open(ringing('c1', '1001'));
    p.call('pbx', 'c1').transferUntil = 500;
    p.close('pbx', 'c1', '1001');
    p.forget(pop);
    assert.ok(p.findCall('pbx', 'c1'));
    clock = 501;
    p.sweep();
    assert.equal(p.findCall('pbx', 'c1'), undefined);
  });
});
