import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CallTracker } from '../src/calls/call-tracker.js';
import type { CallEvent } from '../src/model/call-event.js';
import { AmiDecoder } from '../src/pbx/asterisk/ami-codec.js';
import { agentResolver, DEFAULT_AGENT_PATTERN } from '../src/pbx/asterisk/asterisk-config.js';
import { AsteriskNormaliser } from '../src/pbx/asterisk/asterisk-normaliser.js';
import type { EarlyCall } from '../src/pbx/pbx-adapter.js';
import { asteriskNormaliserSettings } from '../src/sim/pbx-configs.js';

const FIXTURES = join(process.cwd(), 'test', 'fixtures', 'asterisk');
/** In local mode the agent phone is played by `Local/100x@sim-phone-…;1` (fixture README). */
const LOCAL_AGENTS = '^Local/(\\d+)@sim-phone$';

interface Replay {
  events: CallEvent[];
  early: EarlyCall[];
  tracker: CallTracker;
  normaliser: AsteriskNormaliser;
}

function replay(file: string): Replay {
  const local = file.includes('.local.');
  const agentFor = agentResolver({ map: {}, pattern: local ? LOCAL_AGENTS : DEFAULT_AGENT_PATTERN });
  const normaliser = new AsteriskNormaliser(asteriskNormaliserSettings({ pbxId: 'pbx1', agentFor }));
  const tracker = new CallTracker({ agentForDevice: (_pbx, device) => agentFor(device) });
  const events: CallEvent[] = [];
  const early: EarlyCall[] = [];
  let at = 1_000;
  for (const item of new AmiDecoder().push(readFileSync(join(FIXTURES, file)))) {
    if (item.type !== 'message') continue;
    const out = normaliser.handle(item.message, at++);
    early.push(...out.early);
    for (const leg of out.legs) events.push(...tracker.handle(leg));
  }
  return { events, early, tracker, normaliser };
}

/** The parts of a CallEvent a user sees, in a compact comparable form. */
function summary(e: CallEvent): Record<string, unknown> {
  const out: Record<string, unknown> = {
    kind: e.kind,
    agent: e.agent.extension,
    callId: e.callId,
    legId: e.legId,
    caller: e.caller,
    callee: e.callee,
    direction: e.direction,
    anonymous: e.anonymous,
  };
  if (e.queue) out['queue'] = e.queue;
  if (e.transferredFrom) out['transferredFrom'] = e.transferredFrom;
  if (e.cause) out['cause'] = e.cause;
  return out;
}

const erika = { number: '+4930123456', name: 'Erika Mustermann' };
const max = { number: '+4940555777', name: 'Max Mustermann' };
const petra = { number: '+4989777888', name: 'Petra Schmidt' };
const hans = { number: '+4989123456', name: 'Hans Huber' };
const agent = (ext: string) => ({ number: ext, name: null });
const inbound = { direction: 'inbound', anonymous: false };

describe('Asterisk captures through codec, normaliser and tracker', () => {
  for (const mode of ['', '.local'] as const) {
    const label = mode ? 'local mode' : 'SIP mode';

    it(`01 (${label}): pops 1001 once with Erika's number, then answered and ended`, () => {
      const { events, tracker } = replay(`01-inbound-answered${mode}.ami`);
      const callId = mode ? '1795371084.0' : '1795371075.0';
      const legId = mode ? '1795371084.2' : '1795371075.1';
      const base = { agent: '1001', callId, legId, caller: erika, callee: agent('1001'), ...inbound };
      assert.deepEqual(events.map(summary), [
        { kind: 'ringing', ...base },
        { kind: 'answered', ...base },
        { kind: 'ended', ...base, cause: '16 Normal Clearing' },
      ]);
      assert.equal(tracker.size, 0);
    });

    it(`01 (${label}): announces the call early, before the agent rings`, () => {
      const { early } = replay(`01-inbound-answered${mode}.ami`);
      assert.deepEqual(early, [{ pbxId: 'pbx1', callId: mode ? '1795371084.0' : '1795371075.0', caller: erika, anonymous: false }]);
    });

    it(`02 (${label}): rings 1002 and reports it missed when Max gives up`, () => {
      const { events, tracker } = replay(`02-inbound-abandoned${mode}.ami`);
      const callId = mode ? '1795371103.0' : '1795371094.0';
      const legId = mode ? '1795371103.2' : '1795371094.1';
      const base = { agent: '1002', callId, legId, caller: max, callee: agent('1002'), ...inbound };
      assert.deepEqual(events.map(summary), [
        { kind: 'ringing', ...base },
        { kind: 'missed', ...base, cause: mode ? '19 User alerting, no answer' : '127 Interworking, unspecified' },
      ]);
      assert.equal(tracker.size, 0);
    });

    it(`03 (${label}): rings 1001 and 1002 for the queue, 1001 answers, 1002 missed, 1001 ended`, () => {
      const { events, tracker } = replay(`03-queue-answered${mode}.ami`);
      const queue = mode ? 'support-local' : 'support';
      const callId = mode ? '1795371124.0' : '1795371114.0';
      const leg1001 = mode ? '1795371125.4' : '1795371114.2';
      const leg1002 = mode ? '1795371125.2' : '1795371114.1';
      const a1001 = { agent: '1001', callId, legId: leg1001, caller: petra, callee: agent('1001'), ...inbound, queue };
      const a1002 = { agent: '1002', callId, legId: leg1002, caller: petra, callee: agent('1002'), ...inbound, queue };
      assert.deepEqual(events.map(summary), [
        { kind: 'ringing', ...a1002 },
        { kind: 'ringing', ...a1001 },
        { kind: 'answered', ...a1001 },
        { kind: 'missed', ...a1002, cause: '26 Answered elsewhere' },
        { kind: 'ended', ...a1001, cause: '16 Normal Clearing' },
      ]);
      assert.equal(tracker.size, 0);
    });

    it(`05 (${label}): click-to-dial is a dialing leg for 1001, never an inbound pop`, () => {
      const { events, early, tracker } = replay(`05-click-to-dial${mode}.ami`);
      const id = mode ? '1795371174.0' : '1795371162.0';
      const base = { agent: '1001', callId: id, legId: id, caller: agent('1001'), callee: hans, direction: 'outbound', anonymous: false };
      assert.deepEqual(events.map(summary), [
        { kind: 'dialing', ...base },
        { kind: 'answered', ...base },
        { kind: 'ended', ...base, cause: '16 Normal Clearing' },
      ]);
      assert.ok(!events.some((e) => e.kind === 'ringing'), 'no ringing pop');
      assert.deepEqual(early, [], 'no early lookup for an outbound call');
      assert.equal(tracker.size, 0);
    });

    it(`06 (${label}): blind transfer keeps the call id and Erika, and marks 1002 transferred from 1001`, () => {
      const { events, tracker } = replay(`06-blind-transfer${mode}.ami`);
      const callId = mode ? '1795371206.0' : '1795371188.0';
      const leg1001 = mode ? '1795371206.2' : '1795371188.1';
      const leg1002 = mode ? '1795371211.4' : '1795371193.2';
      const a1001 = { agent: '1001', callId, legId: leg1001, caller: erika, callee: agent('1001'), ...inbound };
      const a1002 = { agent: '1002', callId, legId: leg1002, caller: erika, callee: agent('1002'), ...inbound, transferredFrom: '1001' };
      assert.deepEqual(events.map(summary), [
        { kind: 'ringing', ...a1001 },
        { kind: 'answered', ...a1001 },
        { kind: 'transferred', ...a1001, callee: agent('1002') },
        { kind: 'ended', ...a1001, cause: '16 Normal Clearing' },
        { kind: 'ringing', ...a1002 },
        { kind: 'answered', ...a1002 },
        { kind: 'ended', ...a1002, cause: '16 Normal Clearing' },
      ]);
      assert.equal(tracker.size, 0);
    });

    it(`forgets every channel once the calls of a capture are over (${label})`, () => {
      for (const file of ['01-inbound-answered', '02-inbound-abandoned', '03-queue-answered', '05-click-to-dial', '06-blind-transfer']) {
        assert.equal(replay(`${file}${mode}.ami`).normaliser.size, 0, file);
      }
    });
  }

  it('never treats the trunk as an agent with the default agent pattern', () => {
    const resolve = agentResolver({ map: {}, pattern: DEFAULT_AGENT_PATTERN });
    assert.equal(resolve('PJSIP/1001'), '1001');
    assert.equal(resolve('SIP/2002'), '2002');
    assert.equal(resolve('PJSIP/trunk'), null);
    assert.equal(resolve('Local/1001@from-queue'), null);
    assert.equal(resolve('PJSIP/+4989123456'), null);
  });

  it('maps named devices through agents.map before the pattern', () => {
    const resolve = agentResolver({ map: { 'PJSIP/alice': '1001' }, pattern: '' });
    assert.equal(resolve('PJSIP/alice'), '1001');
    assert.equal(resolve('PJSIP/1002'), null);
  });
});
