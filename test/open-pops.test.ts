import assert from 'node:assert/strict';
import { OpenPops } from '../src/calls/open-pops.js';
import type { CallEvent } from '../src/model/call-event.js';

function ringing(callId: string, agent: string): CallEvent {
  return {
    kind: 'ringing',
    pbxId: 'pbx',
    callId,
    agent: { extension: agent, device: `PJSIP/${agent}` },
    direction: 'inbound',
    caller: { number: '+4930123456', name: null },
    callee: { number: agent, name: null },
    anonymous: false,
    at: 0,
  } as CallEvent;
}

describe('open pops', () => {
  let clock = 0;
  const pops = (maxPops = 100) => new OpenPops({ maxPops, windowMs: 1000, now: () => clock });
  beforeEach(() => (clock = 0));

  it('finds the pops of one call, and one agent\'s pop on it', () => {
    const p = pops();
    p.open(ringing('c1', '1001'));
    p.open(ringing('c1', '1002'));
    p.open(ringing('c2', '1001'));
    assert.deepEqual(p.ofCall('pbx', 'c1').map((x) => x.event.agent.extension), ['1001', '1002']);
    assert.equal(p.get('pbx', 'c2', '1001')?.event.callId, 'c2');
    assert.equal(p.get('pbx', 'c2', '1002'), undefined);
    assert.equal(p.size, 3);
  });

  it('keeps a closed pop for the window, then no longer gives it out', () => {
    const p = pops();
    p.open(ringing('c1', '1001'));
    p.close('pbx', 'c1', '1001');
    clock = 1000;
    assert.ok(p.get('pbx', 'c1', '1001'));
    clock = 1001;
    assert.equal(p.get('pbx', 'c1', '1001'), undefined);
    assert.deepEqual(p.ofCall('pbx', 'c1'), []);
  });

  it('forgets a pop only while it is still the agent\'s pop on that call', () => {
    const p = pops();
    const first = p.open(ringing('c1', '1001'));
    const second = p.open(ringing('c1', '1001'));
    p.forget(first);
    assert.equal(p.get('pbx', 'c1', '1001'), second);
    p.forget(second);
    assert.equal(p.get('pbx', 'c1', '1001'), undefined);
    assert.equal(p.size, 0);
  });

  it('forgets the oldest calls past the bound, and calls whose pops all expired', () => {
    const p = pops(3);
    for (const id of ['c1', 'c2', 'c3', 'c4']) p.open(ringing(id, '1001'));
    assert.equal(p.size, 3);
    assert.equal(p.get('pbx', 'c1', '1001'), undefined);
    p.close('pbx', 'c2', '1001');
    clock = 5000;
    p.open(ringing('c5', '1001'));
    assert.equal(p.size, 3, 'c2 expired and was dropped: c3, c4, c5 remain');
    assert.deepEqual(['c3', 'c4', 'c5'].map((id) => Boolean(p.get('pbx', id, '1001'))), [true, true, true]);
  });
});
