import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CallTracker } from '../src/calls/call-tracker.js';
import type { CallEvent } from '../src/model/call-event.js';
import type { EslEvent } from '../src/pbx/freeswitch/esl-codec.js';
import { EslDecoder } from '../src/pbx/freeswitch/esl-codec.js';
import { FreeswitchNormaliser } from '../src/pbx/freeswitch/freeswitch-normaliser.js';
import { freeswitchAgentResolver } from '../src/pbx/freeswitch/index.js';
import { encodeEventFrame } from '../src/sim/esl-simulator.js';
import type { EarlyCall } from '../src/pbx/pbx-adapter.js';
import { freeswitchNormaliserSettings } from '../src/sim/pbx-configs.js';
import {
  agentDialoutScenario,
  anonymousScenario,
  attendedTransferScenario,
  callcenterScenario,
  reconnectScenario,
  phoneAttendedTransferScenario,
  referTransferScenario,
  ringGroupScenario,
} from '../src/sim/esl-scenarios.js';

const fixtures = new URL('../../test/fixtures/freeswitch/', import.meta.url);
const resolveAgent = freeswitchAgentResolver({ map: {}, pattern: '^user/([^@/]+)$' });

interface Pipeline {
  normaliser: FreeswitchNormaliser;
  tracker: CallTracker;
  calls: CallEvent[];
  early: EarlyCall[];
  feed(events: readonly EslEvent[]): void;
}

function pipeline(): Pipeline {
  const normaliser = new FreeswitchNormaliser(freeswitchNormaliserSettings({ pbxId: 'fs1', keepRaw: false }));
  const tracker = new CallTracker({ agentForDevice: (_pbx, device) => resolveAgent(device) });
  const p: Pipeline = {
    normaliser,
    tracker,
    calls: [],
    early: [],
    feed(events) {
      for (const event of events) {
        for (const out of normaliser.handle(event)) {
          if (out.kind === 'early') p.early.push(out.early);
          else p.calls.push(...tracker.handle(out.leg));
        }
      }
    },
  };
  return p;
}

function captureEvents(name: string, chunk?: number): EslEvent[] {
  const bytes = readFileSync(new URL(name, fixtures));
  const decoder = new EslDecoder();
  const out: EslEvent[] = [];
  const size = chunk ?? bytes.length;
  for (let offset = 0; offset < bytes.length; offset += size) {
    for (const m of decoder.push(bytes.subarray(offset, offset + size))) if (m.type === 'event') out.push(m.event);
  }
  return out;
}

function runCapture(name: string): Pipeline {
  const p = pipeline();
  p.feed(captureEvents(name));
  return p;
}

/** The fields a pop client sees, in a compact form for exact comparison. */
function summary(e: CallEvent): Record<string, unknown> {
  return {
    kind: e.kind,
    agent: e.agent.extension,
    device: e.agent.device,
    callId: e.callId,
    direction: e.direction,
    caller: e.caller,
    callee: e.callee,
    anonymous: e.anonymous,
    ...(e.transferredFrom ? { transferredFrom: e.transferredFrom } : {}),
    ...(e.queue ? { queue: e.queue } : {}),
    ...(e.cause ? { cause: e.cause } : {}),
  };
}

const ERIKA = { number: '+4930123456', name: 'Erika Mustermann' };
const JUERGEN = { number: '+4940111222', name: 'Jürgen Müller' };

describe('FreeSWITCH captures through codec, normaliser and tracker', () => {
  for (const format of ['esl', 'json.esl']) {
    describe(`${format === 'esl' ? 'plain' : 'JSON'} captures`, () => {
      it('pops 1001 once for Erika Mustermann, then answered and ended (01)', () => {
        const { calls } = runCapture(`01-inbound-answered.${format}`);
        const trunk = '34b9907b-8238-465e-ae3e-ec1fbf8e7ed0';
        assert.deepEqual(calls.map(summary), [
          { kind: 'ringing', agent: '1001', device: 'user/1001', callId: trunk, direction: 'inbound', caller: ERIKA, callee: { number: '1001', name: null }, anonymous: false },
          { kind: 'answered', agent: '1001', device: 'user/1001', callId: trunk, direction: 'inbound', caller: ERIKA, callee: { number: '1001', name: null }, anonymous: false },
          { kind: 'ended', agent: '1001', device: 'user/1001', callId: trunk, direction: 'inbound', caller: ERIKA, callee: { number: '1001', name: null }, anonymous: false, cause: 'NORMAL_CLEARING' },
        ]);
        assert.equal(calls[0]?.did, '+494055551001');
        assert.equal(calls[0]?.legId, '64460ed7-25da-4b39-98c0-8c12f6c8731b');
      });

      it('gives 1002 a ringing then a missed when the caller gives up (02)', () => {
        const { calls } = runCapture(`02-inbound-abandoned.${format}`);
        assert.deepEqual(
          calls.map((e) => [e.kind, e.agent.extension, e.caller.number, e.caller.name, e.cause ?? null]),
          [
            ['ringing', '1002', '+4989765432', 'Max Mustermann', null],
            ['missed', '1002', '+4989765432', 'Max Mustermann', 'ORIGINATOR_CANCEL'],
          ],
        );
      });

      it('shows click-to-dial as 1001 dialing +4940998877 and never as an inbound pop (04)', () => {
        const { calls } = runCapture(`04-outbound-click-to-dial.${format}`);
        const agentLeg = 'c4a61710-b2d7-4130-add9-7e1ab90af832';
        const agent = { number: '1001', name: 'Agent 1001' };
        const callee = { number: '+4940998877', name: null };
        assert.deepEqual(calls.map(summary), [
          { kind: 'dialing', agent: '1001', device: 'user/1001', callId: agentLeg, direction: 'outbound', caller: agent, callee, anonymous: false },
          { kind: 'answered', agent: '1001', device: 'user/1001', callId: agentLeg, direction: 'outbound', caller: agent, callee, anonymous: false },
          { kind: 'ended', agent: '1001', device: 'user/1001', callId: agentLeg, direction: 'outbound', caller: agent, callee, anonymous: false, cause: 'NORMAL_CLEARING' },
        ]);
        assert.equal(calls.some((e) => e.kind === 'ringing'), false);
      });

      it('hands the blind transfer from 1001 to 1002 on the same call with the same caller (05)', () => {
        const { calls } = runCapture(`05-blind-transfer.${format}`);
        const trunk = '1c7442f1-4825-4c5f-9e6a-d39fdbd7bb52';
        assert.deepEqual(
          calls.map((e) => [e.kind, e.agent.extension, e.callId, e.caller.number, e.caller.name, e.transferredFrom ?? null]),
          [
            ['ringing', '1001', trunk, JUERGEN.number, JUERGEN.name, null],
            ['answered', '1001', trunk, JUERGEN.number, JUERGEN.name, null],
            ['transferred', '1001', trunk, JUERGEN.number, JUERGEN.name, null],
            ['ended', '1001', trunk, JUERGEN.number, JUERGEN.name, null],
            ['ringing', '1002', trunk, JUERGEN.number, JUERGEN.name, '1001'],
            ['answered', '1002', trunk, JUERGEN.number, JUERGEN.name, '1001'],
            ['ended', '1002', trunk, JUERGEN.number, JUERGEN.name, '1001'],
          ],
        );
        assert.deepEqual(calls[2]?.callee, { number: '1002', name: null });
      });

      it('sends one early prefetch per inbound call, before its ringing', () => {
        const { early } = runCapture(`01-inbound-answered.${format}`);
        assert.deepEqual(early, [{ pbxId: 'fs1', callId: '34b9907b-8238-465e-ae3e-ec1fbf8e7ed0', caller: ERIKA, anonymous: false }]);
        assert.deepEqual(runCapture(`04-outbound-click-to-dial.${format}`).early, []);
      });

      it('forgets every channel once the calls are over', () => {
        for (const name of ['01-inbound-answered', '02-inbound-abandoned', '04-outbound-click-to-dial', '05-blind-transfer']) {
          const p = runCapture(`${name}.${format}`);
          assert.equal(p.normaliser.size, 0, name);
          assert.equal(p.tracker.size, 0, name);
        }
      });
    });
  }

  it('pops a caller number that a JSON peer sent as a number as text', () => {
    // FreeSWITCH never sends a JSON number; a proxy or another peer might. The pop must still
    // carry a string, never a number that a CRM lookup or the agent page would trip on.
    const events = captureEvents('01-inbound-answered.esl').map((e) => {
      if (e.headers['Caller-Caller-ID-Number'] !== '+4930123456') return e;
      return { ...e, headers: { ...e.headers, 'Caller-Caller-ID-Number': 4930123456 } };
    });
    const bytes = Buffer.concat(events.map((e) => encodeEventFrame(e, 'json')));
    const p = pipeline();
    p.feed(new EslDecoder().push(bytes).flatMap((m) => (m.type === 'event' ? [m.event] : [])));
    const ringing = p.calls.find((e) => e.kind === 'ringing');
    assert.equal(ringing?.caller.number, '4930123456');
    assert.deepEqual(p.calls.map((e) => e.kind), ['ringing', 'answered', 'ended']);
  });

  it('gives identical CallEvents for the plain and the JSON capture of each scenario', () => {
    for (const name of ['01-inbound-answered', '02-inbound-abandoned', '04-outbound-click-to-dial', '05-blind-transfer']) {
      const plain = runCapture(`${name}.esl`).calls;
      const json = runCapture(`${name}.json.esl`).calls;
      assert.ok(plain.length > 0, name);
      assert.deepEqual(json, plain, name);
    }
  });

  it('gives the same CallEvents when capture bytes arrive in 97-byte reads', () => {
    const whole = runCapture('05-blind-transfer.json.esl').calls;
    const p = pipeline();
    p.feed(captureEvents('05-blind-transfer.json.esl', 97));
    assert.deepEqual(p.calls, whole);
  });

  it('pops one agent once for interleaved captures of several calls', () => {
    const p = pipeline();
    const a = captureEvents('01-inbound-answered.json.esl');
    const b = captureEvents('04-outbound-click-to-dial.json.esl');
    const mixed: EslEvent[] = [];
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      if (a[i]) mixed.push(a[i]!);
      if (b[i]) mixed.push(b[i]!);
    }
    p.feed(mixed);
    assert.deepEqual(p.calls.map((e) => `${e.kind}:${e.callId.slice(0, 8)}`).sort(), [
      'answered:34b9907b',
      'answered:c4a61710',
      'dialing:c4a61710',
      'ended:34b9907b',
      'ended:c4a61710',
      'ringing:34b9907b',
    ]);
  });
});

describe('FreeSWITCH scenarios beyond the captures', () => {
  it('pops both ring-group agents once and closes the loser as missed', () => {
    const { events, callId } = ringGroupScenario();
    const p = pipeline();
    p.feed(events);
    assert.deepEqual(
      p.calls.map((e) => [e.kind, e.agent.extension, e.callId, e.cause ?? null]),
      [
        ['ringing', '1002', callId, null],
        ['ringing', '1001', callId, null],
        ['answered', '1002', callId, null],
        ['missed', '1001', callId, 'LOSE_RACE'],
        ['ended', '1002', callId, 'NORMAL_CLEARING'],
      ],
    );
    assert.equal(p.early.length, 1);
  });

  it('names the mod_callcenter queue on the pops of both offered agents', () => {
    const { events, callId } = callcenterScenario();
    const p = pipeline();
    p.feed(events);
    const caller = { number: '+4940777888', name: 'Hans Huber' };
    assert.deepEqual(
      p.calls.map((e) => [e.kind, e.agent.extension, e.callId, e.queue ?? null, e.caller]),
      [
        ['ringing', '1003', callId, 'support', caller],
        ['ringing', '1004', callId, 'support', caller],
        ['answered', '1004', callId, 'support', caller],
        ['missed', '1003', callId, 'support', caller],
        ['ended', '1004', callId, 'support', caller],
      ],
    );
    assert.deepEqual(p.early.map((e) => e.callId), [callId]);
  });

  it('keeps the queue domain when strip_queue_domain is off', () => {
    const normaliser = new FreeswitchNormaliser(freeswitchNormaliserSettings({ pbxId: 'fs1', stripQueueDomain: false, keepRaw: false }));
    const legs = callcenterScenario().events.flatMap((e) => normaliser.handle(e)).flatMap((o) => (o.kind === 'leg' ? [o.leg] : []));
    assert.equal(legs[0]?.queue, 'support@default');
  });

  it('gives the attended-transfer target a ringing with transferredFrom and the original caller', () => {
    const { events, callId } = attendedTransferScenario();
    const p = pipeline();
    p.feed(events);
    assert.deepEqual(
      p.calls.map((e) => [e.kind, e.agent.extension, e.callId, e.caller.number, e.transferredFrom ?? null]),
      [
        ['ringing', '1001', callId, JUERGEN.number, null],
        ['answered', '1001', callId, JUERGEN.number, null],
        ['transferred', '1001', callId, JUERGEN.number, null],
        ['ringing', '1002', callId, JUERGEN.number, '1001'],
        ['answered', '1002', callId, JUERGEN.number, '1001'],
        ['ended', '1001', callId, JUERGEN.number, null],
        ['ended', '1002', callId, JUERGEN.number, '1001'],
      ],
    );
  });

  for (const order of ['hangup-first', 'transfer-first'] as const) {
    it(`gives a phone's blind transfer (SIP REFER) transferred then ended, and the target the caller (${order})`, () => {
      const { events, callId } = referTransferScenario(order);
      const p = pipeline();
      p.feed(events);
      assert.deepEqual(
        p.calls.map((e) => [e.kind, e.agent.extension, e.callId, e.caller.number, e.transferredFrom ?? null]),
        [
          ['ringing', '1001', callId, JUERGEN.number, null],
          ['answered', '1001', callId, JUERGEN.number, null],
          ['transferred', '1001', callId, JUERGEN.number, null],
          ['ended', '1001', callId, JUERGEN.number, null],
          ['ringing', '1002', callId, JUERGEN.number, '1001'],
          ['answered', '1002', callId, JUERGEN.number, '1001'],
          ['ended', '1002', callId, JUERGEN.number, '1001'],
        ],
      );
      assert.deepEqual(p.calls[2]?.callee, { number: '1002', name: null });
      assert.equal(p.normaliser.size, 0);
    });
  }

  it('still announces a REFER transfer from an older FreeSWITCH that marks only endpoint_disposition', () => {
    // Before transfer_to / transfer_destination existed, mod_sofia set only BLIND_TRANSFER.
    const { events } = referTransferScenario('hangup-first');
    const old = events.map((e) => {
      const { variable_transfer_to: _to, variable_transfer_destination: _dest, ...headers } = e.headers;
      return { name: e.name, headers };
    });
    const p = pipeline();
    p.feed(old);
    assert.deepEqual(
      p.calls.map((e) => [e.kind, e.agent.extension, e.transferredFrom ?? null]),
      [
        ['ringing', '1001', null],
        ['answered', '1001', null],
        ['transferred', '1001', null],
        ['ended', '1001', null],
        ['ringing', '1002', '1001'],
        ['answered', '1002', '1001'],
        ['ended', '1002', '1001'],
      ],
    );
  });

  for (const side of ['customer', 'target'] as const) {
    it(`moves the consulted colleague onto the customer's call after the phone's attended transfer (bridge event on the ${side})`, () => {
      const { events, callId, consultCallId } = phoneAttendedTransferScenario(side);
      const p = pipeline();
      p.feed(events);
      const onCustomerCall = p.calls.filter((e) => e.callId === callId);
      assert.deepEqual(
        onCustomerCall.map((e) => [e.kind, e.agent.extension, e.caller.number, e.transferredFrom ?? null]),
        [
          ['ringing', '1001', JUERGEN.number, null],
          ['answered', '1001', JUERGEN.number, null],
          ['transferred', '1001', JUERGEN.number, null],
          ['ringing', '1002', JUERGEN.number, '1001'],
          ['answered', '1002', JUERGEN.number, '1001'],
          ['ended', '1001', JUERGEN.number, null],
          ['ended', '1002', JUERGEN.number, '1001'],
        ],
      );
      // The consultation itself closes for both agents.
      const consult = p.calls.filter((e) => e.callId === consultCallId);
      assert.deepEqual(consult.filter((e) => e.kind === 'ended' || e.kind === 'missed').map((e) => e.agent.extension).sort(), ['1001', '1002']);
      assert.equal(p.normaliser.size, 0);
      assert.equal(p.tracker.size, 0);
    });
  }

  it('marks a withheld number anonymous and passes no number on', () => {
    const { events } = anonymousScenario();
    const p = pipeline();
    p.feed(events);
    const ringing = p.calls.find((e) => e.kind === 'ringing');
    assert.equal(ringing?.anonymous, true);
    assert.deepEqual(ringing?.caller, { number: null, name: null });
    assert.equal(p.early[0]?.anonymous, true);
  });

  it('treats the number "anonymous" without privacy flags as anonymous too', () => {
    const { events } = anonymousScenario();
    const plain = events.map((e) => ({
      name: e.name,
      headers: { ...e.headers, 'Caller-Privacy-Hide-Number': 'false', 'Caller-Privacy-Hide-Name': 'false' },
    }));
    const p = pipeline();
    p.feed(plain);
    const ringing = p.calls.find((e) => e.kind === 'ringing');
    assert.equal(ringing?.anonymous, true);
    assert.deepEqual(ringing?.caller, { number: null, name: 'Anonymous' });
  });

  it('shows an agent dialling from the desk phone as dialing, answered, ended', () => {
    const { events, callId } = agentDialoutScenario();
    const p = pipeline();
    p.feed(events);
    assert.deepEqual(
      p.calls.map((e) => [e.kind, e.agent.extension, e.callId, e.direction, e.callee.number]),
      [
        ['dialing', '1001', callId, 'outbound', '+4940998877'],
        ['answered', '1001', callId, 'outbound', '+4940998877'],
        ['ended', '1001', callId, 'outbound', '+4940998877'],
      ],
    );
  });

  it('neither re-pops nor loses an ended across a reconnect mid-call', () => {
    const s = reconnectScenario();
    const p = pipeline();
    p.feed(s.before);
    const before = p.calls.splice(0);
    assert.deepEqual(before.map((e) => `${e.kind}:${e.agent.extension}`), ['ringing:1001', 'answered:1001', 'ringing:1002', 'ringing:1003']);
    const active = p.normaliser.resync(JSON.stringify(s.channels));
    const resynced = p.tracker.resync('fs1', active);
    assert.deepEqual(resynced.map((e) => `${e.kind}:${e.agent.extension}`), ['missed:1003']);
    p.feed(s.after);
    assert.deepEqual(p.calls.map((e) => `${e.kind}:${e.agent.extension}`), ['answered:1002', 'ended:1001', 'ended:1002']);
  });

  it('after a restart with nothing stored pops each leg it finds once, the answered one as answered, and still ends it', () => {
    const s = reconnectScenario();
    const p = pipeline();
    const active = p.normaliser.resync(JSON.stringify(s.channels));
    const resynced = p.tracker.resync('fs1', active);
    assert.deepEqual(resynced.map((e) => `${e.kind}:${e.agent.extension}:${e.callId === s.calls.b}`), ['ringing:1001:false', 'answered:1001:false', 'ringing:1002:true']);
    assert.deepEqual(resynced[2]?.caller, { number: '+4930222222', name: 'Bernd B' });
    p.feed(s.after);
    assert.deepEqual(p.calls.map((e) => `${e.kind}:${e.agent.extension}`), ['answered:1002', 'ended:1001', 'ended:1002']);
  });

  it('resyncs an empty PBX from {"row_count":0} by closing every tracked leg', () => {
    const p = pipeline();
    p.feed(reconnectScenario().before);
    const active = p.normaliser.resync('{"row_count":0}');
    assert.deepEqual(active, []);
    assert.equal(p.normaliser.size, 0);
    const closed = p.tracker.resync('fs1', active);
    assert.deepEqual(closed.map((e) => e.kind).sort(), ['ended', 'missed', 'missed']);
  });

  it('bounds the channels it remembers', () => {
    const normaliser = new FreeswitchNormaliser(freeswitchNormaliserSettings({ pbxId: 'fs1', maxChannels: 100, keepRaw: false }));
    for (let i = 0; i < 1000; i++) {
      normaliser.handle({
        name: 'CHANNEL_CREATE',
        headers: { 'Event-Name': 'CHANNEL_CREATE', 'Unique-ID': `u-${i}`, 'Call-Direction': 'inbound', 'Caller-Context': 'public', 'Caller-Caller-ID-Number': String(i) },
      });
    }
    assert.ok(normaliser.size <= 100);
  });
});
