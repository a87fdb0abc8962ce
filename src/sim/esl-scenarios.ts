import type { EslEvent } from '../pbx/freeswitch/esl-codec.js';

/**
 * Builders for FreeSWITCH scenarios the real captures do not cover, written from the
 * FreeSWITCH event documentation and mod_callcenter's source: real SIP legs
 * (`sofia/...`), ring groups, mod_callcenter queues, attended transfer (`att_xfer`), a
 * phone's blind transfer (SIP REFER),
 * withheld caller ID, an agent dialling out from a phone, and a reconnect mid-call.
 * Channels carry the headers the normaliser keys on, with the same spelling as the traces.
 */

export interface ChannelSpec {
  uuid: string;
  name: string;
  direction: 'inbound' | 'outbound';
  context: string;
  callerNumber: string;
  callerName: string;
  destination: string;
  /** `user@domain` for a user's leg. */
  presenceId?: string;
  /** The UUID of the leg that originated this one (`Other-Type: originator`). */
  originator?: string;
  privacy?: boolean;
  variables?: Record<string, string>;
}

export interface ShowChannelsRow {
  uuid: string;
  direction: string;
  name: string;
  state: string;
  cid_name: string;
  cid_num: string;
  dest: string;
  context: string;
  presence_id: string;
  callstate: string;
  call_uuid: string;
  initial_context: string;
  initial_dest: string;
}

/** Builds a deterministic event list: ascending Event-Sequence, 1 ms apart. */
export class ScenarioBuilder {
  readonly events: EslEvent[] = [];
  private seq: number;
  private clock: number;
  private readonly channels = new Map<string, ChannelSpec & { callState: string }>();

  constructor(options: { startUs?: number; startSeq?: number } = {}) {
    this.clock = options.startUs ?? 1_795_400_000_000_000;
    this.seq = options.startSeq ?? 1000;
  }

  channel(spec: ChannelSpec): ChannelSpec {
    this.channels.set(spec.uuid, { ...spec, callState: 'DOWN' });
    return spec;
  }

  /** Changes a channel's caller profile (transfers, dialplan). */
  update(uuid: string, changes: Partial<ChannelSpec>): void {
    const ch = this.must(uuid);
    Object.assign(ch, changes);
  }

  /** Emits a channel event with the channel's current headers plus `extra`. */
  emit(name: string, uuid: string, extra: Record<string, string> = {}): this {
    const ch = this.must(uuid);
    if (name === 'CHANNEL_PROGRESS' || name === 'CHANNEL_PROGRESS_MEDIA') ch.callState = 'RINGING';
    if (name === 'CHANNEL_ANSWER') ch.callState = 'ACTIVE';
    if (name === 'CHANNEL_HANGUP' || name === 'CHANNEL_HANGUP_COMPLETE') ch.callState = 'HANGUP';
    const headers: Record<string, string> = {
      ...this.base(name),
      'Channel-State': 'CS_EXECUTE',
      'Channel-Call-State': ch.callState,
      'Channel-Name': ch.name,
      'Unique-ID': ch.uuid,
      'Call-Direction': ch.direction,
      'Presence-Call-Direction': ch.direction,
      'Channel-Call-UUID': ch.originator ?? ch.uuid,
      'Answer-State': ch.callState === 'ACTIVE' ? 'answered' : ch.callState === 'HANGUP' ? 'hangup' : 'ringing',
      'Caller-Direction': ch.direction,
      'Caller-Caller-ID-Name': ch.callerName,
      'Caller-Caller-ID-Number': ch.callerNumber,
      'Caller-Destination-Number': ch.destination,
      'Caller-Context': ch.context,
      'Caller-Unique-ID': ch.uuid,
      'Caller-Channel-Name': ch.name,
      'Caller-Screen-Bit': ch.privacy ? 'false' : 'true',
      'Caller-Privacy-Hide-Name': ch.privacy ? 'true' : 'false',
      'Caller-Privacy-Hide-Number': ch.privacy ? 'true' : 'false',
    };
    if (ch.presenceId) headers['Channel-Presence-ID'] = ch.presenceId;
    if (ch.originator) {
      const other = this.channels.get(ch.originator);
      headers['Other-Type'] = 'originator';
      headers['Other-Leg-Unique-ID'] = ch.originator;
      if (other) {
        headers['Other-Leg-Caller-ID-Number'] = other.callerNumber;
        headers['Other-Leg-Caller-ID-Name'] = other.callerName;
        headers['Other-Leg-Destination-Number'] = other.destination;
        headers['Other-Leg-Channel-Name'] = other.name;
      }
      headers['variable_originating_leg_uuid'] = ch.originator;
    }
    headers['variable_uuid'] = ch.uuid;
    headers['variable_channel_name'] = ch.name;
    headers['variable_direction'] = ch.direction;
    if (ch.presenceId) headers['variable_presence_id'] = ch.presenceId;
    Object.assign(headers, ch.variables ?? {});
    Object.assign(headers, extra);
    this.events.push({ name, headers });
    return this;
  }

  /** CHANNEL_BRIDGE on the A-leg `a`, pointing at B-leg `b`. */
  bridge(a: string, b: string): this {
    const other = this.must(b);
    return this.emit('CHANNEL_BRIDGE', a, {
      'Bridge-A-Unique-ID': a,
      'Bridge-B-Unique-ID': b,
      'Other-Type': 'originatee',
      'Other-Leg-Unique-ID': b,
      'Other-Leg-Destination-Number': other.destination,
      'Other-Leg-Channel-Name': other.name,
      'Other-Leg-Caller-ID-Number': other.callerNumber,
      'Other-Leg-Caller-ID-Name': other.callerName,
    });
  }

  hangup(uuid: string, cause = 'NORMAL_CLEARING'): this {
    this.emit('CHANNEL_HANGUP', uuid, { 'Hangup-Cause': cause, variable_hangup_cause: cause });
    return this.emit('CHANNEL_HANGUP_COMPLETE', uuid, { 'Hangup-Cause': cause, variable_hangup_cause: cause });
  }

  api(command: string, argument: string): this {
    this.events.push({ name: 'API', headers: { ...this.base('API'), 'API-Command': command, 'API-Command-Argument': argument } });
    return this;
  }

  /** A `CUSTOM callcenter::info` event, optionally with a channel's data (as mod_callcenter adds). */
  callcenter(action: string, fields: Record<string, string>, channelUuid?: string): this {
    const headers: Record<string, string> = { ...this.base('CUSTOM'), 'Event-Subclass': 'callcenter::info' };
    if (channelUuid) {
      const ch = this.must(channelUuid);
      headers['Unique-ID'] = ch.uuid;
      headers['Channel-Name'] = ch.name;
      headers['Call-Direction'] = ch.direction;
    }
    Object.assign(headers, { 'CC-Action': action }, fields);
    this.events.push({ name: 'CUSTOM', headers });
    return this;
  }

  heartbeat(): this {
    this.events.push({ name: 'HEARTBEAT', headers: { ...this.base('HEARTBEAT'), 'Up-Time': '0 years, 0 days', 'Session-Count': String(this.channels.size) } });
    return this;
  }

  /** The `show channels as json` answer for the channels given (as they are now). */
  showChannels(uuids: readonly string[]): { row_count: number; rows?: ShowChannelsRow[] } {
    const rows = uuids.map((uuid) => {
      const ch = this.must(uuid);
      return {
        uuid: ch.uuid,
        direction: ch.direction,
        name: ch.name,
        state: 'CS_EXCHANGE_MEDIA',
        cid_name: ch.callerName,
        cid_num: ch.callerNumber,
        dest: ch.destination,
        context: ch.context,
        presence_id: ch.presenceId ?? '',
        callstate: ch.callState,
        call_uuid: ch.originator ?? ch.uuid,
        initial_context: ch.context,
        initial_dest: ch.destination,
      };
    });
    return rows.length ? { row_count: rows.length, rows } : { row_count: 0 };
  }

  private base(name: string): Record<string, string> {
    this.clock += 1000;
    this.seq += 1;
    return {
      'Event-Name': name,
      'Core-UUID': '00000000-0000-4000-8000-00000000c0de',
      'FreeSWITCH-Hostname': 'sim',
      'Event-Date-Timestamp': String(this.clock),
      'Event-Sequence': String(this.seq),
    };
  }

  private must(uuid: string): ChannelSpec & { callState: string } {
    const ch = this.channels.get(uuid);
    if (!ch) throw new Error(`scenario: unknown channel ${uuid}`);
    return ch;
  }
}

const DOMAIN = 'cti.test';

/** A real SIP trunk leg (`sofia/external/...`, context `public`). */
export function trunkLeg(uuid: string, caller: { number: string; name: string }, did: string, privacy = false): ChannelSpec {
  return {
    uuid,
    name: `sofia/external/${caller.number}@198.51.100.7`,
    direction: 'inbound',
    context: 'public',
    callerNumber: caller.number,
    callerName: caller.name,
    destination: did,
    privacy,
  };
}

/** The B-leg of `bridge user/<ext>@cti.test`, as a real SIP phone leg. */
export function agentLeg(uuid: string, ext: string, originator: string | undefined, caller: { number: string; name: string }, extraVars: Record<string, string> = {}, privacy = false): ChannelSpec {
  return {
    uuid,
    name: `sofia/internal/${ext}@192.0.2.${Number(ext.slice(-2)) || 10}:5060`,
    direction: 'outbound',
    context: 'default',
    callerNumber: caller.number,
    callerName: caller.name,
    destination: ext,
    presenceId: `${ext}@${DOMAIN}`,
    originator,
    privacy,
    variables: { variable_dialed_user: ext, variable_dialed_domain: DOMAIN, ...extraVars },
  };
}

/** A registered desk phone placing a call (`sofia/internal/<ext>`, inbound to FreeSWITCH). */
export function deskPhoneLeg(uuid: string, ext: string, destination: string): ChannelSpec {
  return {
    uuid,
    name: `sofia/internal/${ext}@${DOMAIN}`,
    direction: 'inbound',
    context: 'default',
    callerNumber: ext,
    callerName: `Agent ${ext}`,
    destination,
    presenceId: `${ext}@${DOMAIN}`,
    variables: { variable_user_name: ext, variable_domain_name: DOMAIN, variable_effective_caller_id_name: `Agent ${ext}`, variable_effective_caller_id_number: ext },
  };
}

const ERIKA = { number: '+4930123456', name: 'Erika Mustermann' };

/** Inbound call to a ring group: `bridge user/1001@cti.test,user/1002@cti.test`; 1002 answers. */
export function ringGroupScenario(): { events: EslEvent[]; callId: string } {
  const b = new ScenarioBuilder();
  const trunk = 'a0000000-0000-4000-8000-000000000001';
  b.channel(trunkLeg(trunk, ERIKA, '+494055550100'));
  b.emit('CHANNEL_CREATE', trunk).emit('CHANNEL_PARK', trunk);
  const l1 = 'a0000000-0000-4000-8000-000000001001';
  const l2 = 'a0000000-0000-4000-8000-000000001002';
  b.channel(agentLeg(l1, '1001', trunk, ERIKA));
  b.channel(agentLeg(l2, '1002', trunk, ERIKA));
  b.emit('CHANNEL_CREATE', l1).emit('CHANNEL_CREATE', l2);
  b.emit('CHANNEL_PROGRESS', l2).emit('CHANNEL_PROGRESS_MEDIA', l1).emit('CHANNEL_PROGRESS', l1);
  b.emit('CHANNEL_ANSWER', l2);
  b.hangup(l1, 'LOSE_RACE');
  b.emit('CHANNEL_ANSWER', trunk).bridge(trunk, l2);
  b.heartbeat();
  b.hangup(trunk);
  b.hangup(l2);
  return { events: b.events, callId: trunk };
}

/**
 * mod_callcenter queue `support@default`, strategy ring-all, agents 1003 and 1004
 * (contact `user/100x@cti.test`). The agent legs are originated by mod_callcenter with no
 * originator, carrying cc_queue / cc_member_session_uuid; 1004 answers.
 */
export function callcenterScenario(): { events: EslEvent[]; callId: string } {
  const b = new ScenarioBuilder();
  const member = 'b0000000-0000-4000-8000-000000000001';
  const memberUuid = 'b0000000-0000-4000-8000-0000000000aa';
  const caller = { number: '+4940777888', name: 'Hans Huber' };
  b.channel(trunkLeg(member, caller, '+494055550200'));
  b.emit('CHANNEL_CREATE', member).emit('CHANNEL_ANSWER', member).emit('CHANNEL_PARK', member);
  const cc = {
    'CC-Queue': 'support@default',
    'CC-Member-UUID': memberUuid,
    'CC-Member-Session-UUID': member,
    'CC-Member-CID-Number': caller.number,
    'CC-Member-CID-Name': caller.name,
  };
  b.callcenter('member-queue-start', cc, member);
  const ccVars = (agent: string) => ({
    variable_cc_queue: 'support@default',
    variable_cc_member_uuid: memberUuid,
    variable_cc_member_session_uuid: member,
    variable_cc_member_pre_answer_uuid: memberUuid,
    variable_cc_agent: agent,
    variable_cc_side: 'agent',
  });
  const l3 = 'b0000000-0000-4000-8000-000000001003';
  const l4 = 'b0000000-0000-4000-8000-000000001004';
  b.callcenter('agent-offering', { ...cc, 'CC-Agent': '1003@default', 'CC-Agent-Type': 'callback', 'CC-Agent-System': 'single_box' });
  b.callcenter('agent-offering', { ...cc, 'CC-Agent': '1004@default', 'CC-Agent-Type': 'callback', 'CC-Agent-System': 'single_box' });
  b.channel(agentLeg(l3, '1003', undefined, caller, ccVars('1003@default')));
  b.channel(agentLeg(l4, '1004', undefined, caller, ccVars('1004@default')));
  b.emit('CHANNEL_CREATE', l3).emit('CHANNEL_CREATE', l4);
  b.emit('CHANNEL_PROGRESS', l3).emit('CHANNEL_PROGRESS', l4);
  b.emit('CHANNEL_ANSWER', l4);
  b.hangup(l3, 'ORIGINATOR_CANCEL');
  b.callcenter('bridge-agent-start', { ...cc, 'CC-Agent': '1004@default', 'CC-Agent-UUID': l4, 'CC-Agent-System': 'single_box' }, l4);
  b.bridge(member, l4);
  b.hangup(member);
  b.callcenter('bridge-agent-end', { ...cc, 'CC-Agent': '1004@default', 'CC-Agent-UUID': l4, 'CC-Hangup-Cause': 'NORMAL_CLEARING' }, l4);
  b.hangup(l4);
  b.callcenter('member-queue-end', { ...cc, 'CC-Agent': '1004@default', 'CC-Cause': 'Terminated' }, member);
  return { events: b.events, callId: member };
}

/**
 * Attended transfer: 1001 answers, presses the att_xfer key binding; `att_xfer user/1002@cti.test`
 * originates a consult leg from 1001's own leg; 1002 answers, 1001 hangs up and the caller is
 * bridged to 1002.
 */
export function attendedTransferScenario(): { events: EslEvent[]; callId: string } {
  const b = new ScenarioBuilder();
  const trunk = 'c0000000-0000-4000-8000-000000000001';
  const caller = { number: '+4940111222', name: 'Jürgen Müller' };
  b.channel(trunkLeg(trunk, caller, '+494055551001'));
  b.emit('CHANNEL_CREATE', trunk);
  const l1 = 'c0000000-0000-4000-8000-000000001001';
  b.channel(agentLeg(l1, '1001', trunk, caller));
  b.emit('CHANNEL_CREATE', l1).emit('CHANNEL_PROGRESS', l1).emit('CHANNEL_ANSWER', l1);
  b.emit('CHANNEL_ANSWER', trunk).bridge(trunk, l1);
  // att_xfer runs on 1001's leg: its B-leg is the consult call to 1002.
  const l2 = 'c0000000-0000-4000-8000-000000001002';
  b.channel(agentLeg(l2, '1002', l1, caller, { variable_transfer_disposition: 'attended' }));
  b.emit('CHANNEL_CREATE', l2).emit('CHANNEL_PROGRESS', l2).emit('CHANNEL_ANSWER', l2);
  b.bridge(l1, l2);
  b.hangup(l1);
  b.bridge(trunk, l2);
  b.hangup(trunk);
  b.hangup(l2);
  return { events: b.events, callId: trunk };
}

/**
 * Agent 1001 presses the phone's transfer key: a SIP REFER to 1002 (blind). As mod_sofia's
 * `sofia_handle_sip_i_refer` does: the agent's leg gets `endpoint_disposition=BLIND_TRANSFER`,
 * `transfer_to=blind:<caller leg>`, `transfer_destination=blind:1002`; the caller leg gets
 * `sip_refer_to` and is sent to `1002` in the dialplan (`switch_ivr_session_transfer`: a new
 * caller profile whose `Caller-Transfer-Source` is `<time>:<profile uuid>:bl_xfer:1002/...`);
 * the phone then hangs up. The agent's hangup and the caller's new profile come from two
 * session threads, so both orders are built.
 */
export function referTransferScenario(order: 'hangup-first' | 'transfer-first'): { events: EslEvent[]; callId: string } {
  const b = new ScenarioBuilder();
  const trunk = 'f0000000-0000-4000-8000-000000000001';
  const caller = { number: '+4940111222', name: 'Jürgen Müller' };
  b.channel(trunkLeg(trunk, caller, '+494055551001'));
  b.emit('CHANNEL_CREATE', trunk).emit('CHANNEL_PARK', trunk);
  const l1 = 'f0000000-0000-4000-8000-000000001001';
  const agent = agentLeg(l1, '1001', trunk, caller);
  b.channel(agent);
  b.emit('CHANNEL_CREATE', l1).emit('CHANNEL_PROGRESS', l1).emit('CHANNEL_ANSWER', l1);
  b.emit('CHANNEL_ANSWER', trunk).bridge(trunk, l1);
  b.update(l1, {
    variables: {
      ...agent.variables,
      variable_transfer_disposition: 'recv_replace',
      variable_transfer_to: `blind:${trunk}`,
      variable_transfer_destination: 'blind:1002',
      variable_transfer_fallback_extension: '1001',
      variable_endpoint_disposition: 'BLIND_TRANSFER',
    },
  });
  const source = '1795400000:f0000000-0000-4000-8000-0000000000ff:bl_xfer:1002/public/XML';
  b.update(trunk, {
    destination: '1002',
    variables: { variable_sip_refer_to: `<sip:1002@${DOMAIN}>`, 'variable_sip_h_Referred-By': `<sip:1001@${DOMAIN}>`, variable_transfer_history: source },
  });
  const transferred = (): void => {
    b.emit('CHANNEL_UNBRIDGE', trunk, { 'Caller-Transfer-Source': source, 'Caller-RDNIS': '+494055551001' });
  };
  if (order === 'transfer-first') transferred();
  b.hangup(l1);
  if (order === 'hangup-first') transferred();
  const l2 = 'f0000000-0000-4000-8000-000000001002';
  b.channel(agentLeg(l2, '1002', trunk, caller));
  b.emit('CHANNEL_CREATE', l2).emit('CHANNEL_PROGRESS', l2).emit('CHANNEL_ANSWER', l2);
  b.bridge(trunk, l2);
  b.hangup(trunk);
  b.hangup(l2);
  return { events: b.events, callId: trunk };
}

/**
 * Attended transfer from the phone: agent 1001 talks to the customer, puts them on hold and
 * calls 1002 from the desk phone (a second, internal call), then presses transfer: a SIP
 * REFER with Replaces on the customer dialog. As mod_sofia's `sofia_handle_sip_i_refer`
 * does: `transfer_to=att:<1002's leg>` on that dialog, `transfer_disposition=replaced` and
 * `endpoint_disposition=ATTENDED_TRANSFER` on the consult dialog (parked, then hung up),
 * `transfer_disposition=bridge` on 1002's leg, and `switch_ivr_uuid_bridge(customer, 1002)`.
 * CHANNEL_BRIDGE is reported on the uuid_bridge originator: the customer's leg, or 1002's
 * when the originator has no media and the two are swapped; `bridgeEventOn` builds either.
 */
export function phoneAttendedTransferScenario(bridgeEventOn: 'customer' | 'target'): { events: EslEvent[]; callId: string; consultCallId: string } {
  const b = new ScenarioBuilder();
  const trunk = 'b1000000-0000-4000-8000-000000000001';
  const caller = { number: '+4940111222', name: 'Jürgen Müller' };
  b.channel(trunkLeg(trunk, caller, '+494055551001'));
  b.emit('CHANNEL_CREATE', trunk).emit('CHANNEL_PARK', trunk);
  const a1 = 'b1000000-0000-4000-8000-000000001001';
  b.channel(agentLeg(a1, '1001', trunk, caller));
  b.emit('CHANNEL_CREATE', a1).emit('CHANNEL_PROGRESS', a1).emit('CHANNEL_ANSWER', a1);
  b.emit('CHANNEL_ANSWER', trunk).bridge(trunk, a1);
  // The consultation: 1001's phone dials 1002 (a call of its own, inbound to FreeSWITCH).
  const a2 = 'b1000000-0000-4000-8000-000000002001';
  b.channel(deskPhoneLeg(a2, '1001', '1002'));
  b.emit('CHANNEL_CREATE', a2);
  const b1 = 'b1000000-0000-4000-8000-000000001002';
  b.channel(agentLeg(b1, '1002', a2, { number: '1001', name: 'Agent 1001' }));
  b.emit('CHANNEL_CREATE', b1).emit('CHANNEL_PROGRESS', b1).emit('CHANNEL_ANSWER', b1);
  b.emit('CHANNEL_ANSWER', a2).bridge(a2, b1);
  // The REFER (Replaces: the consult dialog) arrives on the customer dialog a1.
  const a1Vars = agentLeg(a1, '1001', trunk, caller).variables;
  b.update(a1, { variables: { ...a1Vars, variable_transfer_disposition: 'recv_replace', variable_transfer_to: `att:${b1}` } });
  b.update(a2, { variables: { variable_user_name: '1001', variable_domain_name: DOMAIN, variable_transfer_disposition: 'replaced', variable_endpoint_disposition: 'ATTENDED_TRANSFER' } });
  const b1Vars = agentLeg(b1, '1002', a2, { number: '1001', name: 'Agent 1001' }).variables;
  b.update(b1, { variables: { ...b1Vars, variable_transfer_disposition: 'bridge' } });
  // The old bridges come apart, then the customer is bridged to 1002.
  b.emit('CHANNEL_UNBRIDGE', a2, { 'Other-Leg-Unique-ID': b1 }).emit('CHANNEL_UNBRIDGE', trunk, { 'Other-Leg-Unique-ID': a1 });
  if (bridgeEventOn === 'customer') b.bridge(trunk, b1);
  else b.bridge(b1, trunk);
  b.hangup(a1); // the phone's BYE on the customer dialog
  b.hangup(a2, 'ATTENDED_TRANSFER'); // the parked consult dialog, after its 2 s park timeout
  b.hangup(trunk);
  b.hangup(b1);
  return { events: b.events, callId: trunk, consultCallId: a2 };
}

/** A withheld number from a SIP trunk: number `anonymous`, privacy flags set. */
export function anonymousScenario(): { events: EslEvent[]; callId: string } {
  const b = new ScenarioBuilder();
  const trunk = 'd0000000-0000-4000-8000-000000000001';
  const caller = { number: 'anonymous', name: 'Anonymous' };
  b.channel(trunkLeg(trunk, caller, '+494055551001', true));
  b.emit('CHANNEL_CREATE', trunk);
  const l1 = 'd0000000-0000-4000-8000-000000001001';
  b.channel(agentLeg(l1, '1001', trunk, caller, {}, true));
  b.emit('CHANNEL_CREATE', l1).emit('CHANNEL_PROGRESS', l1).emit('CHANNEL_ANSWER', l1);
  b.hangup(trunk);
  b.hangup(l1);
  return { events: b.events, callId: trunk };
}

/** Agent 1001 dials +4940998877 from the desk phone (`sofia/internal`, inbound to FreeSWITCH). */
export function agentDialoutScenario(): { events: EslEvent[]; callId: string } {
  const b = new ScenarioBuilder();
  const phone = 'e0000000-0000-4000-8000-000000001001';
  b.channel(deskPhoneLeg(phone, '1001', '+4940998877'));
  b.emit('CHANNEL_CREATE', phone);
  const out = 'e0000000-0000-4000-8000-000000000002';
  b.channel({
    uuid: out,
    name: 'sofia/gateway/pstn/+4940998877',
    direction: 'outbound',
    context: 'default',
    callerNumber: '+494055551001',
    callerName: 'ACME Hotline',
    destination: '+4940998877',
    originator: phone,
  });
  b.emit('CHANNEL_CREATE', out).emit('CHANNEL_PROGRESS_MEDIA', out).emit('CHANNEL_ANSWER', out);
  b.emit('CHANNEL_ANSWER', phone).bridge(phone, out);
  b.hangup(out);
  b.hangup(phone);
  return { events: b.events, callId: phone };
}

/**
 * Two calls across a reconnect. Before the drop: call A (to 1001) answered, call B (to 1002)
 * ringing, call C (to 1003) ringing. While disconnected, C is abandoned. After the
 * reconnect `show channels as json` lists A and B; then A and B end.
 */
export function reconnectScenario(): {
  before: EslEvent[];
  channels: { row_count: number; rows?: ShowChannelsRow[] };
  after: EslEvent[];
  calls: { a: string; b: string; c: string };
} {
  const b = new ScenarioBuilder();
  const ta = 'f0000000-0000-4000-8000-00000000000a';
  const tb = 'f0000000-0000-4000-8000-00000000000b';
  const tc = 'f0000000-0000-4000-8000-00000000000c';
  const la = 'f0000000-0000-4000-8000-00000000100a';
  const lb = 'f0000000-0000-4000-8000-00000000100b';
  const lc = 'f0000000-0000-4000-8000-00000000100c';
  const ca = { number: '+4930111111', name: 'Anna A' };
  const cb = { number: '+4930222222', name: 'Bernd B' };
  const cc = { number: '+4930333333', name: 'Clara C' };
  b.channel(trunkLeg(ta, ca, '+494055551001'));
  b.channel(trunkLeg(tb, cb, '+494055551002'));
  b.channel(trunkLeg(tc, cc, '+494055551003'));
  b.channel(agentLeg(la, '1001', ta, ca));
  b.channel(agentLeg(lb, '1002', tb, cb));
  b.channel(agentLeg(lc, '1003', tc, cc));
  b.emit('CHANNEL_CREATE', ta).emit('CHANNEL_CREATE', la).emit('CHANNEL_PROGRESS', la).emit('CHANNEL_ANSWER', la);
  b.emit('CHANNEL_ANSWER', ta).bridge(ta, la);
  b.emit('CHANNEL_CREATE', tb).emit('CHANNEL_CREATE', lb).emit('CHANNEL_PROGRESS', lb);
  b.emit('CHANNEL_CREATE', tc).emit('CHANNEL_CREATE', lc).emit('CHANNEL_PROGRESS', lc);
  const before = b.events.splice(0);
  // (link down: C is abandoned; nobody hears about it)
  const channels = b.showChannels([ta, la, tb, lb]);
  b.emit('CHANNEL_ANSWER', lb);
  b.emit('CHANNEL_ANSWER', tb).bridge(tb, lb);
  b.hangup(ta);
  b.hangup(la);
  b.hangup(tb);
  b.hangup(lb);
  const after = b.events.splice(0);
  return { before, channels, after, calls: { a: ta, b: tb, c: tc } };
}
