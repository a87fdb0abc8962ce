import assert from 'node:assert/strict';
import { CallTracker } from '../src/calls/call-tracker.js';
import type { CallEvent } from '../src/model/call-event.js';
import type { AmiMessage } from '../src/pbx/asterisk/ami-codec.js';
import { AmiDecoder } from '../src/pbx/asterisk/ami-codec.js';
import { agentResolver, DEFAULT_AGENT_PATTERN } from '../src/pbx/asterisk/asterisk-config.js';
import { AsteriskNormaliser } from '../src/pbx/asterisk/asterisk-normaliser.js';
import type { EarlyCall } from '../src/pbx/pbx-adapter.js';
import { inboundAbandonedCall, inboundAnsweredCall, scenarioBytes } from '../src/sim/ami-scenarios.js';
import { asteriskNormaliserSettings } from '../src/sim/pbx-configs.js';

/**
 * Flows the captures do not cover, written from the Asterisk AMI event documentation
 * (docs.asterisk.org, AMI_Events: Newstate, Hangup, AgentCalled, AgentRingNoAnswer,
 * AgentConnect, AttendedTransfer...). Field names and order follow the captures.
 */

interface Chan {
  Channel: string;
  Uniqueid: string;
  Linkedid: string;
  CallerIDNum: string;
  CallerIDName: string;
  ConnectedLineNum: string;
  ConnectedLineName: string;
  Exten?: string;
}

const STATE: Record<string, string> = { Down: '0', Ring: '4', Ringing: '5', Up: '6' };

function chan(channel: string, uniqueid: string, linkedid: string, cid: [string, string], connected: [string, string] = ['<unknown>', '<unknown>']): Chan {
  return { Channel: channel, Uniqueid: uniqueid, Linkedid: linkedid, CallerIDNum: cid[0], CallerIDName: cid[1], ConnectedLineNum: connected[0], ConnectedLineName: connected[1] };
}

function ev(name: string, c: Chan, desc: string, extra: Record<string, string> = {}): AmiMessage {
  return {
    Event: name,
    Privilege: 'call,all',
    Channel: c.Channel,
    ChannelState: STATE[desc] ?? '0',
    ChannelStateDesc: desc,
    CallerIDNum: c.CallerIDNum,
    CallerIDName: c.CallerIDName,
    ConnectedLineNum: c.ConnectedLineNum,
    ConnectedLineName: c.ConnectedLineName,
    Exten: c.Exten ?? '',
    Uniqueid: c.Uniqueid,
    Linkedid: c.Linkedid,
    ...extra,
  };
}

function withDest(name: string, src: Chan, srcDesc: string, dst: Chan, extra: Record<string, string> = {}): AmiMessage {
  return {
    ...ev(name, src, srcDesc),
    DestChannel: dst.Channel,
    DestCallerIDNum: dst.CallerIDNum,
    DestCallerIDName: dst.CallerIDName,
    DestConnectedLineNum: dst.ConnectedLineNum,
    DestConnectedLineName: dst.ConnectedLineName,
    DestUniqueid: dst.Uniqueid,
    DestLinkedid: dst.Linkedid,
    ...extra,
  };
}

interface Run {
  events: CallEvent[];
  early: EarlyCall[];
  tracker: CallTracker;
  normaliser: AsteriskNormaliser;
}

function run(messages: AmiMessage[], pattern = DEFAULT_AGENT_PATTERN, maxChannels?: number): Run {
  const agentFor = agentResolver({ map: {}, pattern });
  const normaliser = new AsteriskNormaliser(asteriskNormaliserSettings({ pbxId: 'pbx1', agentFor, maxChannels }));
  const tracker = new CallTracker({ agentForDevice: (_p, d) => agentFor(d) });
  const events: CallEvent[] = [];
  const early: EarlyCall[] = [];
  let at = 1000;
  for (const m of messages) {
    const out = normaliser.handle(m, at++);
    early.push(...out.early);
    for (const leg of out.legs) events.push(...tracker.handle(leg));
  }
  return { events, early, tracker, normaliser };
}

function decode(text: string): AmiMessage[] {
  return new AmiDecoder({ expectGreeting: false }).push(text).flatMap((i) => (i.type === 'message' ? [i.message] : []));
}

const line = (e: CallEvent): string => `${e.kind} ${e.agent.extension}${e.transferredFrom ? ` from ${e.transferredFrom}` : ''}`;

const CALLER: [string, string] = ['+4930555666', 'Clara Caller'];

describe('Asterisk call flows beyond the captures', () => {
  it('rings queue members one by one and closes the pop of a member who did not answer in time', () => {
    const trunk = chan('PJSIP/trunk-00000010', '100.0', '100.0', CALLER);
    const m1 = chan('PJSIP/1001-00000011', '100.1', '100.0', ['1001', 'Agent 1001'], CALLER);
    const m2 = chan('PJSIP/1002-00000012', '100.2', '100.0', ['1002', 'Agent 1002'], CALLER);
    const q = { Queue: 'sales', Interface: '', MemberName: '' };
    const { events, tracker } = run([
      ev('Newchannel', trunk, 'Ring'),
      ev('Newstate', trunk, 'Up'),
      ev('QueueCallerJoin', trunk, 'Up', { Queue: 'sales', Position: '1', Count: '1' }),
      ev('Newchannel', m1, 'Down'),
      withDest('AgentCalled', trunk, 'Up', m1, { ...q, Interface: 'PJSIP/1001' }),
      ev('Newstate', m1, 'Ringing'),
      withDest('AgentRingNoAnswer', trunk, 'Up', m1, { ...q, Interface: 'PJSIP/1001', RingTime: '15000' }),
      ev('Hangup', m1, 'Ringing', { Cause: '16', 'Cause-txt': 'Normal Clearing' }),
      ev('Newchannel', m2, 'Down'),
      withDest('AgentCalled', trunk, 'Up', m2, { ...q, Interface: 'PJSIP/1002' }),
      ev('Newstate', m2, 'Ringing'),
      ev('Newstate', m2, 'Up'),
      withDest('AgentConnect', trunk, 'Up', m2, { ...q, Interface: 'PJSIP/1002', HoldTime: '20', RingTime: '3' }),
      withDest('AgentComplete', trunk, 'Up', m2, { ...q, Interface: 'PJSIP/1002', Reason: 'caller', TalkTime: '30' }),
      ev('Hangup', trunk, 'Up', { Cause: '16', 'Cause-txt': 'Normal Clearing' }),
      ev('Hangup', m2, 'Up', { Cause: '16', 'Cause-txt': 'Normal Clearing' }),
    ]);
    assert.deepEqual(events.map(line), ['ringing 1001', 'missed 1001', 'ringing 1002', 'answered 1002', 'ended 1002']);
    assert.ok(events.every((e) => e.queue === 'sales' && e.caller.number === '+4930555666'));
    assert.equal(events[1]?.cause, 'ring no answer (15000 ms)');
    assert.equal(tracker.size, 0);
  });

  it('rings a ring group (Dial with &) and reports the agent who did not answer as missed', () => {
    const trunk = chan('PJSIP/trunk-00000020', '200.0', '200.0', CALLER);
    const a1 = chan('PJSIP/1001-00000021', '200.1', '200.0', ['1001', 'Agent 1001'], CALLER);
    const a2 = chan('PJSIP/1002-00000022', '200.2', '200.0', ['1002', 'Agent 1002'], CALLER);
    const { events } = run([
      ev('Newchannel', trunk, 'Ring'),
      ev('Newchannel', a1, 'Down'),
      ev('Newchannel', a2, 'Down'),
      withDest('DialBegin', trunk, 'Ring', a1, { DialString: '1001' }),
      withDest('DialBegin', trunk, 'Ring', a2, { DialString: '1002' }),
      ev('Newstate', a1, 'Ringing'),
      ev('Newstate', a2, 'Ringing'),
      ev('Newstate', a2, 'Up'),
      withDest('DialEnd', trunk, 'Ring', a2, { DialStatus: 'ANSWER' }),
      withDest('DialEnd', trunk, 'Ring', a1, { DialStatus: 'CANCEL' }),
      withDest('DialEnd', trunk, 'Ring', a1, { DialStatus: 'CANCEL' }),
      ev('Hangup', a1, 'Ringing', { Cause: '26', 'Cause-txt': 'Answered elsewhere' }),
      ev('Hangup', a2, 'Up', { Cause: '16', 'Cause-txt': 'Normal Clearing' }),
      ev('Hangup', trunk, 'Up', { Cause: '16', 'Cause-txt': 'Normal Clearing' }),
    ]);
    assert.deepEqual(events.map(line), ['ringing 1001', 'ringing 1002', 'answered 1002', 'missed 1001', 'ended 1002']);
  });

  for (const [number, name] of [
    ['anonymous', 'Anonymous'],
    ['', ''],
    ['<unknown>', '<unknown>'],
  ] as const) {
    it(`marks a caller presenting "${number}" as anonymous with no number`, () => {
      const trunk = chan('PJSIP/trunk-00000030', '300.0', '300.0', [number, name]);
      const agent = chan('PJSIP/1001-00000031', '300.1', '300.0', ['1001', 'Agent 1001'], [number, name]);
      const { events, early } = run([ev('Newchannel', trunk, 'Ring'), ev('Newchannel', agent, 'Down'), ev('Newstate', agent, 'Ringing')]);
      assert.equal(events.length, 1);
      assert.equal(events[0]?.anonymous, true);
      assert.equal(events[0]?.caller.number, null);
      if (number === 'anonymous') {
        assert.equal(events[0]?.caller.name, 'Anonymous');
        assert.deepEqual(early.map((e) => e.anonymous), [true]);
      }
    });
  }

  it('keeps a hostile caller name as plain data', () => {
    const evil = `'); DROP TABLE customers;-- <script>alert(1)</script> \${process.exit()}`;
    const trunk = chan('PJSIP/trunk-00000040', '400.0', '400.0', ['+4930123', evil]);
    const agent = chan('PJSIP/1001-00000041', '400.1', '400.0', ['1001', 'Agent 1001'], ['+4930123', evil]);
    const { events } = run([ev('Newchannel', trunk, 'Ring'), ev('Newstate', agent, 'Ringing')]);
    assert.equal(events[0]?.caller.name, evil);
  });

  it('moves the target of an attended transfer onto the customer call with the customer and transferredFrom', () => {
    const trunk = chan('PJSIP/trunk-00000050', '500.0', '500.0', CALLER, ['1001', 'Agent 1001']);
    const first = chan('PJSIP/1001-00000051', '500.1', '500.0', ['1001', 'Agent 1001'], CALLER);
    const consult = chan('PJSIP/1001-00000052', '510.2', '510.2', ['1001', 'Agent 1001'], ['<unknown>', '<unknown>']);
    const target = chan('PJSIP/1002-00000053', '510.3', '510.2', ['1002', 'Agent 1002'], ['1001', 'Agent 1001']);
    const transfer: AmiMessage = {
      Event: 'AttendedTransfer',
      Privilege: 'call,all',
      Result: 'Success',
      OrigTransfererChannel: first.Channel,
      OrigTransfererUniqueid: first.Uniqueid,
      OrigTransfererLinkedid: first.Linkedid,
      SecondTransfererChannel: consult.Channel,
      SecondTransfererUniqueid: consult.Uniqueid,
      SecondTransfererLinkedid: consult.Linkedid,
      TransfereeChannel: trunk.Channel,
      TransfereeUniqueid: trunk.Uniqueid,
      TransfereeLinkedid: trunk.Linkedid,
      TransfereeCallerIDNum: CALLER[0],
      TransfereeCallerIDName: CALLER[1],
      TransferTargetChannel: target.Channel,
      TransferTargetUniqueid: target.Uniqueid,
      TransferTargetLinkedid: target.Linkedid,
      DestType: 'Bridge',
      IsExternal: 'No',
    };
    const { events, tracker } = run([
      ev('Newchannel', trunk, 'Ring'),
      ev('Newchannel', first, 'Down'),
      ev('Newstate', first, 'Ringing'),
      ev('Newstate', first, 'Up'),
      // 1001 consults 1002 from the handset.
      ev('Newchannel', consult, 'Ring', { Exten: '1002' }),
      withDest('DialBegin', consult, 'Ring', target, { DialString: '1002' }),
      ev('Newstate', target, 'Ringing'),
      ev('Newstate', target, 'Up'),
      withDest('DialEnd', consult, 'Up', target, { DialStatus: 'ANSWER' }),
      transfer,
      ev('Hangup', first, 'Up', { Cause: '16', 'Cause-txt': 'Normal Clearing' }),
      ev('Hangup', consult, 'Up', { Cause: '16', 'Cause-txt': 'Normal Clearing' }),
      ev('Hangup', { ...trunk }, 'Up', { Cause: '16', 'Cause-txt': 'Normal Clearing' }),
      ev('Hangup', { ...target, Linkedid: '510.2' }, 'Up', { Cause: '16', 'Cause-txt': 'Normal Clearing' }),
    ]);
    assert.deepEqual(events.map(line), [
      'ringing 1001',
      'answered 1001',
      'dialing 1001',
      'ringing 1002',
      'answered 1002',
      'answered 1001',
      'transferred 1001',
      'ended 1002',
      'ringing 1002 from 1001',
      'answered 1002 from 1001',
      'ended 1001',
      'ended 1001',
      'ended 1002 from 1001',
    ]);
    const consultRing = events[3];
    assert.equal(consultRing?.direction, 'internal');
    assert.equal(consultRing?.caller.number, '1001');
    const moved = events[8];
    assert.equal(moved?.callId, '500.0', 'the customer call id');
    assert.deepEqual(moved?.caller, { number: CALLER[0], name: CALLER[1] });
    assert.equal(moved?.direction, 'inbound');
    assert.equal(events[7]?.callId, '510.2', 'the consultation ends for 1002');
    assert.equal(tracker.size, 0);
  });

  it('pops a queue member reached through a Local channel once, and survives the Local channel being optimised away', () => {
    const pattern = '^(?:PJSIP/(\\d+)|Local/(\\d+)@from-queue)$';
    const trunk = chan('PJSIP/trunk-00000060', '600.0', '600.0', CALLER);
    const l1 = chan('Local/1001@from-queue-00000061;1', '600.1', '600.0', ['1001', CALLER[1]], CALLER);
    const l2 = chan('Local/1001@from-queue-00000061;2', '600.2', '600.0', CALLER, CALLER);
    const phone = chan('PJSIP/1001-00000062', '600.3', '600.0', ['1001', 'Agent 1001'], CALLER);
    const { events, tracker } = run(
      [
        ev('Newchannel', trunk, 'Ring'),
        ev('QueueCallerJoin', trunk, 'Up', { Queue: 'support' }),
        ev('Newchannel', l1, 'Down'),
        ev('Newchannel', l2, 'Ring'),
        withDest('AgentCalled', trunk, 'Up', l1, { Queue: 'support', Interface: 'Local/1001@from-queue/n' }),
        ev('Newchannel', phone, 'Down'),
        ev('Newstate', phone, 'Ringing'),
        ev('Newstate', l1, 'Ringing'),
        ev('Newstate', phone, 'Up'),
        ev('Newstate', l2, 'Up'),
        ev('Newstate', l1, 'Up'),
        withDest('AgentConnect', trunk, 'Up', l1, { Queue: 'support', Interface: 'Local/1001@from-queue/n' }),
        // Local channel optimisation: the pair goes away, trunk and phone keep talking.
        ev('Hangup', l2, 'Up', { Cause: '16', 'Cause-txt': 'Normal Clearing' }),
        ev('Hangup', l1, 'Up', { Cause: '16', 'Cause-txt': 'Normal Clearing' }),
      ],
      pattern,
    );
    assert.deepEqual(events.map(line), ['ringing 1001', 'answered 1001']);
    assert.equal(events[0]?.queue, 'support');
    assert.equal(tracker.size, 1, 'the agent is still on the call');
    const end = new AsteriskNormaliser(asteriskNormaliserSettings({ pbxId: 'pbx1', agentFor: () => '1001' }));
    const hangup = end.handle(ev('Hangup', phone, 'Up', { Cause: '16', 'Cause-txt': 'Normal Clearing' }), 5000).legs[0];
    assert.ok(hangup);
    assert.deepEqual(tracker.handle(hangup).map(line), ['ended 1001'], 'ends when the phone hangs up');
    assert.equal(tracker.size, 0);
  });

  it('tracks an outbound call the agent dials from the handset as dialing, answered and ended', () => {
    const phone = chan('PJSIP/1001-00000070', '700.0', '700.0', ['1001', 'Agent 1001']);
    phone.Exten = '+4989123456';
    const out = chan('PJSIP/trunk-00000071', '700.1', '700.0', ['+4989123456', '<unknown>'], ['1001', 'Agent 1001']);
    const { events, early } = run([
      ev('Newchannel', phone, 'Ring'),
      ev('Newchannel', out, 'Down'),
      withDest('DialBegin', phone, 'Ring', out, { DialString: '+4989123456@trunk' }),
      ev('Newstate', out, 'Ringing'),
      ev('Newstate', out, 'Up'),
      withDest('DialEnd', phone, 'Ring', out, { DialStatus: 'ANSWER' }),
      ev('Newstate', phone, 'Up'),
      ev('Hangup', out, 'Up', { Cause: '16', 'Cause-txt': 'Normal Clearing' }),
      ev('Hangup', phone, 'Up', { Cause: '16', 'Cause-txt': 'Normal Clearing' }),
    ]);
    assert.deepEqual(events.map(line), ['dialing 1001', 'answered 1001', 'ended 1001']);
    assert.equal(events[0]?.direction, 'outbound');
    assert.equal(events[0]?.callee.number, '+4989123456');
    assert.deepEqual(early, [], 'an agent-initiated call is not an early inbound lookup');
  });

  it('marks an agent-to-agent call as internal with the calling agent as caller', () => {
    const caller = chan('PJSIP/1002-00000080', '800.0', '800.0', ['1002', 'Agent 1002']);
    caller.Exten = '1001';
    const callee = chan('PJSIP/1001-00000081', '800.1', '800.0', ['1001', 'Agent 1001'], ['1002', 'Agent 1002']);
    const { events } = run([
      ev('Newchannel', caller, 'Ring'),
      ev('Newchannel', callee, 'Down'),
      withDest('DialBegin', caller, 'Ring', callee, { DialString: '1001' }),
      ev('Newstate', callee, 'Ringing'),
    ]);
    assert.deepEqual(events.map(line), ['dialing 1002', 'ringing 1001']);
    assert.equal(events[1]?.direction, 'internal');
    assert.deepEqual(events[1]?.caller, { number: '1002', name: 'Agent 1002' });
  });

  it('pops once when Asterisk repeats the Ringing state of a leg', () => {
    const trunk = chan('PJSIP/trunk-00000090', '900.0', '900.0', CALLER);
    const agent = chan('PJSIP/1001-00000091', '900.1', '900.0', ['1001', 'Agent 1001'], CALLER);
    const { events } = run([ev('Newchannel', trunk, 'Ring'), ev('Newstate', agent, 'Ringing'), ev('Newstate', agent, 'Ringing'), ev('Newstate', agent, 'Up'), ev('Newstate', agent, 'Up')]);
    assert.deepEqual(events.map(line), ['ringing 1001', 'answered 1001']);
  });

  it('keeps its channel memory under limits.max_channels when Hangups are lost', () => {
    const messages: AmiMessage[] = [];
    for (let i = 0; i < 1000; i++) messages.push(ev('Newchannel', chan(`PJSIP/trunk-${i}`, `1.${i}`, `1.${i}`, CALLER), 'Ring'));
    const { normaliser } = run(messages, DEFAULT_AGENT_PATTERN, 100);
    assert.ok(normaliser.size <= 100, `${normaliser.size} channels`);
  });

  it('plays scripted demo calls with substituted callers through the real pipeline', () => {
    const answered = decode(scenarioBytes(inboundAnsweredCall({ callerNumber: '+4940111222', callerName: 'Jürgen Öztürk', agent: '1002', seq: 4 })));
    const abandoned = decode(scenarioBytes(inboundAbandonedCall({ callerNumber: null, agent: '1001', seq: 5 })));
    const { events, tracker } = run([...answered, ...abandoned]);
    assert.deepEqual(events.map(line), ['ringing 1002', 'answered 1002', 'ended 1002', 'ringing 1001', 'missed 1001']);
    assert.deepEqual(events[0]?.caller, { number: '+4940111222', name: 'Jürgen Öztürk' });
    assert.equal(events[3]?.anonymous, true);
    assert.notEqual(events[0]?.callId, events[3]?.callId);
    assert.equal(tracker.size, 0);
  });
});
