import { freeswitchNormaliserSettings } from '../src/sim/pbx-configs.js';
import assert from 'node:assert/strict';
import { CallTracker } from '../src/calls/call-tracker.js';
import type { CallEvent } from '../src/model/call-event.js';
import type { LegEvent } from '../src/model/leg-event.js';
import type { Logger } from '../src/model/logger.js';
import { AmiDecoder, type AmiMessage } from '../src/pbx/asterisk/ami-codec.js';
import { AsteriskNormaliser } from '../src/pbx/asterisk/asterisk-normaliser.js';
import type { EslEvent } from '../src/pbx/freeswitch/esl-codec.js';
import { FreeswitchNormaliser, type FreeswitchOutput } from '../src/pbx/freeswitch/freeswitch-normaliser.js';
import { TRUNCATION_MARK } from '../src/pbx/truncate-value.js';

/**
 * A PBX that sends valid frames in a hostile order (issue 13 finding 4): every sequence must
 * go through the normaliser and the tracker without an exception, with bounded maps, and
 * with at most one `ringing` per agent leg.
 */

interface CountingLogger extends Logger {
  warns: string[];
}

function countingLogger(): CountingLogger {
  const warns: string[] = [];
  const none = (): void => {};
  const logger: CountingLogger = {
    warns,
    trace: none,
    debug: none,
    info: none,
    warn: (obj: object | string, msg?: string) => void warns.push(msg ?? String(obj)),
    error: (obj: object | string, msg?: string) => void warns.push(msg ?? String(obj)),
    child: () => logger,
  };
  return logger;
}

function assertOneRingingPerLeg(calls: readonly CallEvent[]): void {
  const seen = new Map<string, number>();
  for (const e of calls) if (e.kind === 'ringing') seen.set(`${e.callId}|${e.legId}`, (seen.get(`${e.callId}|${e.legId}`) ?? 0) + 1);
  for (const [leg, n] of seen) assert.equal(n, 1, `leg ${leg} rang ${n} times`);
}

function mapSizes(obj: object): Record<string, number> {
  const sizes: Record<string, number> = {};
  for (const [key, value] of Object.entries(obj)) if (value instanceof Map || value instanceof Set) sizes[key] = value.size;
  return sizes;
}

describe('Asterisk normaliser and tracker with events in a hostile order', () => {
  const agentFor = (device: string): string | null => (/^PJSIP\/(1\d{3})$/.exec(device)?.[1] ?? null);

  function harness(maxChannels = 1000) {
    const logger = countingLogger();
    const normaliser = new AsteriskNormaliser({ pbxId: 'ast', agentFor, maxChannels, logger });
    const tracker = new CallTracker({ agentForDevice: (_p, d) => agentFor(d), maxLegs: maxChannels, logger });
    const calls: CallEvent[] = [];
    const legs: LegEvent[] = [];
    const feed = (event: AmiMessage): void => {
      const out = normaliser.handle(event, 1_700_000_000_000);
      for (const leg of out.legs) {
        legs.push(leg);
        calls.push(...tracker.handle(leg));
      }
    };
    return { normaliser, tracker, calls, legs, feed, logger };
  }

  const ev = (fields: Record<string, string>): AmiMessage => Object.assign(Object.create(null) as AmiMessage, fields);
  const agentChan = (uid: string, linked: string, state: string, extra: Record<string, string> = {}): AmiMessage =>
    ev({ Channel: `PJSIP/1001-${uid.replace('.', '')}`, Uniqueid: uid, Linkedid: linked, ChannelStateDesc: state, ConnectedLineNum: '+4930123456', ConnectedLineName: 'Erika', ...extra });

  it('survives a Hangup before the Newchannel of its channel, then a fresh call on the same ids', () => {
    const h = harness();
    h.feed(ev({ Event: 'Hangup', ...agentChan('9.2', '9.1', 'Ringing'), Cause: '16' }));
    h.feed(ev({ Event: 'Newchannel', ...agentChan('9.2', '9.1', 'Down') }));
    h.feed(ev({ Event: 'Newstate', ...agentChan('9.2', '9.1', 'Ringing') }));
    h.feed(ev({ Event: 'Hangup', ...agentChan('9.2', '9.1', 'Ringing'), Cause: '16' }));
    assertOneRingingPerLeg(h.calls);
    assert.equal(h.normaliser.size, 0);
    assert.equal(h.tracker.size, 0);
  });

  it('gives an answer before ringing one pop at most and closes it on hangup', () => {
    const h = harness();
    h.feed(ev({ Event: 'Newstate', ...agentChan('1.2', '1.1', 'Up') }));
    h.feed(ev({ Event: 'Newstate', ...agentChan('1.2', '1.1', 'Ringing') }));
    h.feed(ev({ Event: 'Newstate', ...agentChan('1.2', '1.1', 'Up') }));
    h.feed(ev({ Event: 'Hangup', ...agentChan('1.2', '1.1', 'Up') }));
    assertOneRingingPerLeg(h.calls);
    assert.equal(h.tracker.size, 0);
  });

  it('pops once when the same DialBegin and Newstate Ringing come 1,000 times', () => {
    const h = harness();
    h.feed(ev({ Event: 'Newchannel', ...agentChan('2.2', '2.1', 'Down') }));
    for (let i = 0; i < 1000; i++) {
      h.feed(ev({ Event: 'DialBegin', Channel: 'PJSIP/trunk-1', Uniqueid: '2.1', Linkedid: '2.1', DestChannel: 'PJSIP/1001-22', DestUniqueid: '2.2', DestLinkedid: '2.1' }));
      h.feed(ev({ Event: 'Newstate', ...agentChan('2.2', '2.1', 'Ringing') }));
    }
    assert.equal(h.calls.filter((e) => e.kind === 'ringing').length, 1);
  });

  it('ignores bridge and transfer events for channels it never saw', () => {
    const h = harness();
    h.feed(ev({ Event: 'BridgeEnter', Channel: 'PJSIP/1002-77', Uniqueid: '7.7', Linkedid: '7.1', BridgeUniqueid: 'b-1' }));
    h.feed(ev({ Event: 'BlindTransfer', Result: 'Success', TransfererChannel: 'PJSIP/1002-77', TransfererUniqueid: '7.7', TransfereeLinkedid: '7.1', Extension: '1003' }));
    h.feed(ev({ Event: 'AttendedTransfer', Result: 'Success', TransfereeLinkedid: '8.1', OrigTransfererLinkedid: '8.1', OrigTransfererUniqueid: '8.2', OrigTransfererChannel: 'PJSIP/1002-88', SecondTransfererLinkedid: '8.5', TransferTargetUniqueid: '8.6', TransferTargetChannel: 'PJSIP/1003-99' }));
    h.feed(ev({ Event: 'AgentConnect', DestUniqueid: '6.2', DestChannel: 'PJSIP/1001-66', Linkedid: '6.1' }));
    h.feed(ev({ Event: 'BridgeLeave', Channel: 'PJSIP/1002-77', Uniqueid: '7.7', Linkedid: '7.1', BridgeUniqueid: 'b-1' }));
    assertOneRingingPerLeg(h.calls);
  });

  it('keeps one pop when a channel\'s Linkedid changes mid-call', () => {
    const h = harness();
    h.feed(ev({ Event: 'Newstate', ...agentChan('3.2', '3.1', 'Ringing') }));
    h.feed(ev({ Event: 'Newstate', ...agentChan('3.2', '3.9', 'Ringing') }));
    h.feed(ev({ Event: 'Newstate', ...agentChan('3.2', '3.9', 'Up') }));
    h.feed(ev({ Event: 'Hangup', ...agentChan('3.2', '3.9', 'Up') }));
    assertOneRingingPerLeg(h.calls);
    assert.equal(h.calls.filter((e) => e.kind === 'ringing').length, 1);
    assert.equal(h.tracker.size, 0);
  });

  it('stays bounded, and warns once, for 20,000 channels that never hang up (20 times the bound)', () => {
    const h = harness(1000);
    for (let i = 0; i < 20_000; i++) {
      const linked = `${i}.1`;
      h.feed(ev({ Event: 'QueueCallerJoin', Channel: `PJSIP/trunk-${i}`, Uniqueid: linked, Linkedid: linked, Queue: 'support' }));
      h.feed(ev({ Event: 'AgentCalled', DestChannel: `PJSIP/1001-${i}`, DestUniqueid: `${i}.2`, Linkedid: linked, Queue: 'support' }));
      h.feed(ev({ Event: 'Newstate', ...agentChan(`${i}.2`, linked, 'Ringing') }));
    }
    assert.ok(h.normaliser.size <= 1000);
    for (const [name, size] of Object.entries(mapSizes(h.normaliser))) assert.ok(size <= 1000, `normaliser ${name} holds ${size}`);
    assert.ok(h.tracker.size <= 1000);
    const channelWarnings = h.logger.warns.filter((w) => /AMI channel memory/.test(w));
    assert.equal(channelWarnings.length, 1, `warned ${channelWarnings.length} times`);
    assertOneRingingPerLeg(h.calls);
  });

  it('pops a call whose caller name is 100 KB, with the name cut and marked', () => {
    const h = harness();
    const decoder = new AmiDecoder({ expectGreeting: false });
    const name = 'x'.repeat(100_000);
    const bytes = [
      `Event: Newchannel\r\nChannel: PJSIP/trunk-00000001\r\nUniqueid: 5.1\r\nLinkedid: 5.1\r\nCallerIDNum: +4930123456\r\nCallerIDName: ${name}\r\nExten: 100\r\n\r\n`,
      `Event: Newchannel\r\nChannel: PJSIP/1001-00000002\r\nUniqueid: 5.2\r\nLinkedid: 5.1\r\nChannelStateDesc: Down\r\n\r\n`,
      `Event: Newstate\r\nChannel: PJSIP/1001-00000002\r\nUniqueid: 5.2\r\nLinkedid: 5.1\r\nChannelStateDesc: Ringing\r\nConnectedLineNum: +4930123456\r\nConnectedLineName: ${name}\r\n\r\n`,
    ].join('');
    for (let offset = 0; offset < bytes.length; offset += 4096) {
      for (const item of decoder.push(bytes.slice(offset, offset + 4096))) if (item.type === 'message') h.feed(item.message);
    }
    const ringing = h.calls.filter((e) => e.kind === 'ringing');
    assert.equal(ringing.length, 1);
    assert.equal(ringing[0]?.caller.number, '+4930123456');
    assert.ok(ringing[0]?.caller.name?.endsWith(TRUNCATION_MARK));
    assert.ok((ringing[0]?.caller.name?.length ?? 0) < 5000);
  });
});

describe('FreeSWITCH normaliser and tracker with events in a hostile order', () => {
  function harness(maxChannels = 1000) {
    const logger = countingLogger();
    const normaliser = new FreeswitchNormaliser(freeswitchNormaliserSettings({ pbxId: 'fs', maxChannels, endedMemory: maxChannels, keepRaw: false, logger }));
    const tracker = new CallTracker({ agentForDevice: (_p, d) => (d.startsWith('user/') ? d.slice(5) : null), maxLegs: maxChannels, logger });
    const calls: CallEvent[] = [];
    const feed = (event: EslEvent): void => {
      for (const out of normaliser.handle(event) as FreeswitchOutput[]) if (out.kind === 'leg') calls.push(...tracker.handle(out.leg));
    };
    return { normaliser, tracker, calls, feed, logger };
  }

  const event = (name: string, headers: Record<string, string>): EslEvent => ({ name, headers: { 'Event-Name': name, ...headers } });
  const trunk = (uuid: string): Record<string, string> => ({
    'Unique-ID': uuid,
    'Call-Direction': 'inbound',
    'Channel-Name': 'sofia/external/+4930123456@198.51.100.7',
    'Caller-Context': 'public',
    'Caller-Caller-ID-Number': '+4930123456',
    'Caller-Caller-ID-Name': 'Erika',
    'Caller-Destination-Number': '+494055551001',
  });
  const agent = (uuid: string, origin: string, ext = '1001'): Record<string, string> => ({
    'Unique-ID': uuid,
    'Call-Direction': 'outbound',
    'Channel-Name': `sofia/internal/${ext}@192.0.2.1`,
    'Channel-Presence-ID': `${ext}@cti.test`,
    variable_dialed_user: ext,
    'Other-Type': 'originator',
    'Other-Leg-Unique-ID': origin,
    'Caller-Caller-ID-Number': '+4930123456',
    'Caller-Caller-ID-Name': 'Erika',
  });

  it('survives a hangup before the create and ignores the late events of that channel', () => {
    const h = harness();
    h.feed(event('CHANNEL_HANGUP_COMPLETE', agent('a2', 'a1')));
    h.feed(event('CHANNEL_CREATE', agent('a2', 'a1')));
    h.feed(event('CHANNEL_PROGRESS', agent('a2', 'a1')));
    assertOneRingingPerLeg(h.calls);
    assert.equal(h.calls.length, 0);
  });

  it('pops once when an answer comes before ringing, and once for 1,000 repeated PROGRESS events', () => {
    const h = harness();
    h.feed(event('CHANNEL_CREATE', trunk('b1')));
    h.feed(event('CHANNEL_ANSWER', agent('b2', 'b1')));
    for (let i = 0; i < 1000; i++) h.feed(event('CHANNEL_PROGRESS', agent('b2', 'b1')));
    h.feed(event('CHANNEL_HANGUP_COMPLETE', agent('b2', 'b1')));
    assert.equal(h.calls.filter((e) => e.kind === 'ringing').length, 1);
    assert.equal(h.tracker.size, 0);
  });

  it('ignores bridges, transfers and callcenter events for channels it never saw', () => {
    const h = harness();
    h.feed(event('CHANNEL_BRIDGE', { ...trunk('c1'), 'Other-Leg-Unique-ID': 'nobody', 'Bridge-B-Unique-ID': 'nobody' }));
    h.feed(event('API', { 'API-Command': 'uuid_transfer', 'API-Command-Argument': 'nobody -bleg 1002' }));
    h.feed(event('CUSTOM', { 'Event-Subclass': 'callcenter::info', 'CC-Action': 'bridge-agent-start', 'CC-Agent-UUID': 'nobody', 'CC-Member-Session-UUID': 'c1' }));
    h.feed(event('CHANNEL_UNBRIDGE', agent('c9', 'c8')));
    assertOneRingingPerLeg(h.calls);
  });

  it('keeps one pop when Channel-Call-UUID and the originator change mid-call', () => {
    const h = harness();
    h.feed(event('CHANNEL_CREATE', trunk('d1')));
    h.feed(event('CHANNEL_PROGRESS', { ...agent('d2', 'd1'), 'Channel-Call-UUID': 'd1' }));
    h.feed(event('CHANNEL_PROGRESS', { ...agent('d2', 'd7'), 'Channel-Call-UUID': 'd7' }));
    h.feed(event('CHANNEL_ANSWER', { ...agent('d2', 'd7'), 'Channel-Call-UUID': 'd7' }));
    h.feed(event('CHANNEL_HANGUP_COMPLETE', agent('d2', 'd7')));
    assert.equal(h.calls.filter((e) => e.kind === 'ringing').length, 1);
    assert.equal(h.tracker.size, 0);
  });

  it('stays bounded, and warns once, for 20,000 channels that never hang up (20 times the bound)', () => {
    const h = harness(1000);
    for (let i = 0; i < 20_000; i++) {
      h.feed(event('CUSTOM', { 'Event-Subclass': 'callcenter::info', 'CC-Action': 'member-queue-start', 'CC-Member-Session-UUID': `m${i}`, 'CC-Queue': 'support@cti.test' }));
      h.feed(event('CHANNEL_PROGRESS', agent(`g${i}`, `m${i}`)));
      if (i % 2 === 0) h.feed(event('CHANNEL_HANGUP_COMPLETE', trunk(`x${i}`)));
    }
    assert.ok(h.normaliser.size <= 1000);
    for (const [name, size] of Object.entries(mapSizes(h.normaliser))) assert.ok(size <= 1000, `normaliser ${name} holds ${size}`);
    assert.ok(h.tracker.size <= 1000);
    const channelWarnings = h.logger.warns.filter((w) => /FreeSWITCH channels at limit/.test(w));
    assert.equal(channelWarnings.length, 1, `warned ${channelWarnings.length} times`);
    assertOneRingingPerLeg(h.calls);
  });
});
