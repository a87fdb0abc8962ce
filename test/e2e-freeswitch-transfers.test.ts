import assert from 'node:assert/strict';
import type { EslEvent } from '../src/pbx/freeswitch/esl-codec.js';
import { phoneAttendedTransferScenario, referTransferScenario } from '../src/sim/esl-scenarios.js';
import { EslSimulator } from '../src/sim/esl-simulator.js';
import { DaemonHarness } from './helpers/daemon-harness.js';
import { assertProtocol } from './helpers/protocol.js';
import type { Received } from './helpers/ws-client.js';

/**
 * The phone's own transfer keys on FreeSWITCH, through the whole daemon: what the two agents'
 * pages receive over the WebSocket (docs/protocol.md), not only the tracker's events.
 */

const CUSTOMER = { number: '+4940111222', name: 'Jürgen Müller' };

async function play(events: readonly EslEvent[], callId: string): Promise<{ from: Received[]; to: Received[] }> {
  const sim = new EslSimulator({ password: 'ClueCon' });
  const harness = await DaemonHarness.start({ pbx: { id: 'fs', type: 'freeswitch', host: '127.0.0.1', port: await sim.listen(0, '127.0.0.1'), password: 'ClueCon' } });
  try {
    await sim.waitForSubscription(5000);
    const from = await harness.agent(['1001']);
    const to = await harness.agent(['1002']);
    sim.sendEvents(events);
    await to.next((m) => m.type === 'call' && m.state === 'ended' && m.callId === callId, 10_000);
    await from.next((m) => m.type === 'call' && m.state === 'ended' && m.callId === callId, 10_000);
    from.close();
    to.close();
    for (const message of [...from.messages, ...to.messages]) assertProtocol(message);
    return { from: from.messages, to: to.messages };
  } finally {
    await harness.stop();
    await sim.close();
  }
}

/** On the customer's call only: each pop with its caller number and transferredFrom, each call state. */
function onCall(messages: Received[], callId: string): unknown[] {
  return messages
    .filter((m) => (m.type === 'pop' || m.type === 'call') && m.callId === callId)
    .map((m) => (m.type === 'pop' ? ['pop', (m.caller as { number: string }).number, m.transferredFrom] : m.state));
}

describe('end to end: transfers made with the phone on FreeSWITCH', () => {
  it('blind (SIP REFER): 1001 sees transferred then ended, 1002 pops with the customer and who sent it', async () => {
    const { events, callId } = referTransferScenario('hangup-first');
    const { from, to } = await play(events, callId);
    assert.deepEqual(onCall(from, callId), [['pop', CUSTOMER.number, null], 'answered', 'transferred', 'ended']);
    assert.deepEqual(onCall(to, callId), [['pop', CUSTOMER.number, '1001'], 'answered', 'ended']);
  });

  it('attended (REFER with Replaces): 1002 gets the customer on the customer\'s call after the consultation', async () => {
    const { events, callId, consultCallId } = phoneAttendedTransferScenario('customer');
    const { from, to } = await play(events, callId);
    assert.deepEqual(onCall(from, callId), [['pop', CUSTOMER.number, null], 'answered', 'transferred', 'ended']);
    assert.deepEqual(onCall(to, callId), [['pop', CUSTOMER.number, '1001'], 'answered', 'ended']);
    // The consultation (1001 calling 1002) popped 1002 as an internal call and was closed.
    const consult = to.filter((m) => m.callId === consultCallId).map((m) => (m.type === 'pop' ? 'pop' : m.state));
    assert.equal(consult[0], 'pop');
    assert.equal(consult.at(-1), 'ended');
  });
});
