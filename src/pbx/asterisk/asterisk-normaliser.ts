import type { CallDirection, Party } from '../../model/call-event.js';
import type { ActiveLeg, LegEvent } from '../../model/leg-event.js';
import type { Logger } from '../../model/logger.js';
import { silentLogger } from '../../model/logger.js';
import type { EarlyCall } from '../pbx-adapter.js';
import type { AmiMessage } from './ami-codec.js';

/**
 * AMI events -> LegEvents, following test/fixtures/asterisk/README.md "Rule that works
 * for every trace":
 *
 * - pop on `Newstate` `Ringing` of an agent channel with `Linkedid != Uniqueid`; the
 *   caller is that event's `ConnectedLineNum/Name`, the call is the `Linkedid`, the leg
 *   the `Uniqueid`;
 * - `Newstate` `Ringing` with `Linkedid == Uniqueid` is the agent's own phone ringing for
 *   a click-to-dial Originate: a `leg-dialing`, never an inbound pop;
 * - answer = `Newstate Up` on the same Uniqueid (an outbound leg: `DialEnd ANSWER` of its
 *   dial), end = `Hangup` on the same Uniqueid.
 *
 * It keeps a little state per live channel (bounded by `maxChannels`) because some facts
 * arrive on other channels' events: the queue name (`AgentCalled`, `QueueCallerJoin`),
 * the call's first channel (direction), Local channel pairs.
 */

export interface AsteriskNormaliserOptions {
  pbxId: string;
  /** Device (`PJSIP/1001`) -> agent extension, or null when the device is not an agent's. */
  agentFor(device: string): string | null;
  /** Live channels remembered at once; past it the oldest is forgotten with a warning (`limits.max_channels`). */
  maxChannels: number;
  logger?: Logger;
  /** Attach the AMI event to each LegEvent as `raw` (debugging; costs memory). */
  keepRaw?: boolean;
}

/** What the normaliser dropped to protect its memory; each cause is logged once, then only counted. */
export interface AsteriskNormaliserStats {
  /** Channels forgotten at maxChannels (their Hangup probably never came). */
  forgottenChannels: number;
  /** Queue links forgotten at maxChannels (QueueCallerJoin/AgentCalled without an end). */
  forgottenQueueLinks: number;
}

export interface NormalisedOutput {
  legs: LegEvent[];
  early: EarlyCall[];
}

type Role = 'ringing' | 'dialing' | 'dialing-answered';

interface ChannelInfo {
  uniqueid: string;
  linkedid: string;
  channel: string;
  device: string;
  /** Agent extension when the device is an agent's. */
  agent: string | null;
  /** `;2` half of a Local channel pair: never an agent leg of its own. */
  localSecondHalf: boolean;
  role: Role | null;
  exten: string;
  earlySent: boolean;
}

const NOTHING: NormalisedOutput = Object.freeze({ legs: [], early: [] }) as unknown as NormalisedOutput;

/** What Asterisk and carriers put where there is no number. */
const NO_NUMBER = new Set(['', '<unknown>', 'unknown', 'anonymous', 'restricted', 'withheld', 'private', 'unavailable']);

/** Channel name without the per-call suffix: `PJSIP/1001-0000000a` -> `PJSIP/1001`, `Local/1001@ctx-00000001;1` -> `Local/1001@ctx`. */
export function deviceOf(channel: string): string {
  let name = channel;
  const semi = name.lastIndexOf(';');
  if (semi > 0 && name.startsWith('Local/')) name = name.slice(0, semi);
  const dash = name.lastIndexOf('-');
  const slash = name.indexOf('/');
  return dash > slash && slash >= 0 ? name.slice(0, dash) : name;
}

/** A party as the PBX gave it; `<unknown>`, empty and `anonymous` mean "no number". */
export function partyOf(number: string | undefined, name: string | undefined): Party {
  const num = number === undefined || NO_NUMBER.has(number.toLowerCase()) ? null : number;
  const nm = name === undefined || name === '' || name === '<unknown>' ? null : name;
  return { number: num, name: nm };
}

/**
 * Withheld: the number is absent or one of the placeholders. (Asterisk does not flag a
 * restricted presentation in AMI events at all — README caveat 1 — so a number that
 * arrives with Privacy: id still shows; see docs/asterisk.md.)
 */
export function isAnonymousNumber(number: string | undefined): boolean {
  return number === undefined || NO_NUMBER.has(number.toLowerCase());
}

export class AsteriskNormaliser {
  private readonly pbxId: string;
  private readonly agentFor: (device: string) => string | null;
  private readonly maxChannels: number;
  private readonly logger: Logger;
  private readonly keepRaw: boolean;
  private readonly channels = new Map<string, ChannelInfo>();
  /** Queue of a member leg, from `AgentCalled` (DestUniqueid -> Queue). */
  private readonly queueByLeg = new Map<string, string>();
  /** Queue of a call, from `QueueCallerJoin` (Linkedid -> Queue); for members reached through Local channels. */
  private readonly queueByCall = new Map<string, string>();
  readonly stats: AsteriskNormaliserStats = { forgottenChannels: 0, forgottenQueueLinks: 0 };
  /** Causes already logged: a PBX that never sends Hangups must not get one warning per event. */
  private readonly warned = new Set<keyof AsteriskNormaliserStats>();

  constructor(options: AsteriskNormaliserOptions) {
    this.pbxId = options.pbxId;
    this.agentFor = options.agentFor;
    this.maxChannels = options.maxChannels;
    this.logger = options.logger ?? silentLogger;
    this.keepRaw = options.keepRaw ?? false;
  }

  /** Live channels currently remembered. */
  get size(): number {
    return this.channels.size;
  }

  /** One AMI event in; the leg facts and early signs it carries out. `at` is receive time. */
  handle(event: AmiMessage, at: number): NormalisedOutput {
    switch (event['Event']) {
      case 'Newchannel':
        return this.onNewchannel(event, at);
      case 'NewCallerid':
        return this.onNewCallerid(event, at);
      case 'Newstate':
        return this.onNewstate(event, at);
      case 'DialBegin':
        return this.onDialBegin(event, at);
      case 'DialEnd':
        return this.onDialEnd(event, at);
      case 'Hangup':
        return this.onHangup(event, at);
      case 'QueueCallerJoin':
        return this.onQueueCallerJoin(event);
      case 'AgentCalled':
        return this.onAgentCalled(event);
      case 'AgentConnect':
        return this.onAgentConnect(event, at);
      case 'AgentRingNoAnswer':
        return this.onAgentRingNoAnswer(event, at);
      case 'AgentComplete':
        // The member's Hangup follows with the real cause; only forget the queue link.
        if (event['DestUniqueid']) this.queueByLeg.delete(event['DestUniqueid']);
        return NOTHING;
      case 'BlindTransfer':
        return this.onBlindTransfer(event, at);
      case 'AttendedTransfer':
        return this.onAttendedTransfer(event, at);
      default:
        return NOTHING;
    }
  }

  /**
   * Turns a `CoreShowChannels` list into the agent legs the tracker resyncs with, and
   * rebuilds this normaliser's channel memory from it (what it knew before the
   * reconnect may be stale).
   */
  resync(list: readonly AmiMessage[], now = Date.now()): ActiveLeg[] {
    this.channels.clear();
    this.queueByLeg.clear();
    this.queueByCall.clear();
    const legs: ActiveLeg[] = [];
    for (const item of list) {
      const info = this.remember(item);
      if (!info) continue;
      info.earlySent = true;
      if (!info.agent || info.localSecondHalf) continue;
      const desc = item['ChannelStateDesc'] ?? '';
      const state: ActiveLeg['state'] = desc === 'Ringing' ? 'ringing' : desc === 'Up' ? 'up' : 'other';
      const outbound = info.uniqueid === info.linkedid;
      info.role = outbound ? (state === 'up' ? 'dialing-answered' : 'dialing') : 'ringing';
      const other = partyOf(item['ConnectedLineNum'], item['ConnectedLineName']);
      const agentParty: Party = { number: info.agent, name: null };
      legs.push({
        pbxId: this.pbxId,
        callId: info.linkedid,
        legId: info.uniqueid,
        device: info.device,
        state,
        caller: outbound ? agentParty : other,
        callee: outbound ? other : agentParty,
        direction: outbound ? 'outbound' : this.directionOf(info),
        ...startedFromDuration(item['Duration'], now),
      });
    }
    return legs;
  }

  /** Forgets everything (e.g. before a fresh session). */
  reset(): void {
    this.channels.clear();
    this.queueByLeg.clear();
    this.queueByCall.clear();
  }

  private onNewchannel(event: AmiMessage, at: number): NormalisedOutput {
    const info = this.remember(event);
    if (!info) return NOTHING;
    return this.maybeEarly(info, event, at);
  }

  private onNewCallerid(event: AmiMessage, at: number): NormalisedOutput {
    // Local channels are created with CallerID <unknown>; the number arrives here.
    const info = this.lookup(event);
    if (!info) return NOTHING;
    return this.maybeEarly(info, event, at);
  }

  private maybeEarly(info: ChannelInfo, event: AmiMessage, at: number): NormalisedOutput {
    if (info.earlySent || info.agent !== null || info.uniqueid !== info.linkedid) return NOTHING;
    const number = event['CallerIDNum'];
    if (number === undefined || number === '<unknown>') return NOTHING;
    info.earlySent = true;
    return {
      legs: [],
      early: [
        {
          pbxId: this.pbxId,
          callId: info.linkedid,
          caller: partyOf(number, event['CallerIDName']),
          anonymous: isAnonymousNumber(number),
        },
      ],
    };
  }

  private onNewstate(event: AmiMessage, at: number): NormalisedOutput {
    const info = this.lookup(event);
    if (!info || info.agent === null || info.localSecondHalf) return NOTHING;
    const desc = event['ChannelStateDesc'];
    if (desc === 'Ringing') {
      if (info.role !== null) return NOTHING;
      if (info.uniqueid === info.linkedid) {
        // Click-to-dial (05): the agent's own phone rings first, ConnectedLine is the
        // Originate's CallerID = the person about to be called. Not an inbound caller.
        info.role = 'dialing';
        const callee = partyOf(event['ConnectedLineNum'], event['ConnectedLineName']);
        if (callee.number === null && event['Exten'] && event['Exten'] !== 's') callee.number = event['Exten'];
        return this.legs(this.outboundLeg('leg-dialing', info, callee, event, at));
      }
      info.role = 'ringing';
      return this.legs(this.inboundLeg('leg-ringing', info, event, at));
    }
    if (desc === 'Up') {
      if (info.role === 'dialing' || info.role === 'dialing-answered') return NOTHING;
      return this.legs(this.inboundLeg('leg-answered', info, event, at));
    }
    return NOTHING;
  }

  private onDialBegin(event: AmiMessage, at: number): NormalisedOutput {
    // An agent dialling out from the handset never rings: its channel starts in state
    // Ring with Linkedid == Uniqueid and dials. (Originate-driven DialBegins carry no
    // Channel at all; README "Rule".)
    if (event['Channel'] === undefined) return NOTHING;
    const info = this.lookup(event);
    if (!info || info.agent === null || info.localSecondHalf || info.role !== null) return NOTHING;
    if (info.uniqueid !== info.linkedid) return NOTHING;
    info.role = 'dialing';
    // On an outbound leg the callee's CallerIDNum is the dialled number (README caveat 3).
    let callee = partyOf(event['DestCallerIDNum'], event['DestCallerIDName']);
    if (callee.number === null) {
      const dialString = event['DialString'] ?? '';
      const number = dialString.split('@')[0]?.split('/').pop() ?? '';
      callee = { number: number || (info.exten && info.exten !== 's' ? info.exten : null), name: callee.name };
    }
    return this.legs(this.outboundLeg('leg-dialing', info, callee, event, at));
  }

  private onDialEnd(event: AmiMessage, at: number): NormalisedOutput {
    if (event['DialStatus'] !== 'ANSWER' || event['Uniqueid'] === undefined) return NOTHING;
    const info = this.channels.get(event['Uniqueid']);
    if (!info || info.role !== 'dialing') return NOTHING;
    // The far end of an agent's outbound call answered.
    info.role = 'dialing-answered';
    const callee = partyOf(event['DestCallerIDNum'], event['DestCallerIDName']);
    return this.legs(this.outboundLeg('leg-answered', info, callee, event, at));
  }

  private onHangup(event: AmiMessage, at: number): NormalisedOutput {
    const uniqueid = event['Uniqueid'];
    if (uniqueid === undefined) return NOTHING;
    const info = this.channels.get(uniqueid) ?? this.remember(event);
    if (!info) return NOTHING;
    this.channels.delete(uniqueid);
    this.queueByLeg.delete(uniqueid);
    if (uniqueid === info.linkedid) this.queueByCall.delete(uniqueid);
    if (info.agent === null || info.localSecondHalf) return NOTHING;
    const cause = [event['Cause'], event['Cause-txt']].filter((part) => part !== undefined && part !== '').join(' ');
    const leg = info.role === 'dialing' || info.role === 'dialing-answered'
      ? this.outboundLeg('leg-hangup', info, partyOf(event['ConnectedLineNum'], event['ConnectedLineName']), event, at)
      : this.inboundLeg('leg-hangup', info, event, at);
    if (cause) leg.cause = cause;
    return this.legs(leg);
  }

  private onQueueCallerJoin(event: AmiMessage): NormalisedOutput {
    const linkedid = event['Linkedid'];
    const queue = event['Queue'];
    if (linkedid && queue) this.setQueueOfCall(linkedid, queue);
    return NOTHING;
  }

  private onAgentCalled(event: AmiMessage): NormalisedOutput {
    const dest = event['DestUniqueid'];
    const queue = event['Queue'];
    if (dest && queue) {
      this.queueByLeg.set(dest, queue);
      if (this.queueByLeg.size > this.maxChannels) this.forgetOldest(this.queueByLeg, 'forgottenQueueLinks');
    }
    const linkedid = event['Linkedid'];
    if (linkedid && queue && !this.queueByCall.has(linkedid)) this.setQueueOfCall(linkedid, queue);
    return NOTHING;
  }

  /** Bounded like the channels: a call's queue is forgotten when its first channel hangs up, which may never be seen. */
  private setQueueOfCall(linkedid: string, queue: string): void {
    this.queueByCall.set(linkedid, queue);
    if (this.queueByCall.size > this.maxChannels) this.forgetOldest(this.queueByCall, 'forgottenQueueLinks');
  }

  private onAgentConnect(event: AmiMessage, at: number): NormalisedOutput {
    // Usually after the member's own `Newstate Up`; the tracker ignores the repeat.
    const info = this.destInfo(event);
    if (!info || info.agent === null || info.localSecondHalf || info.role !== 'ringing') return NOTHING;
    const leg = this.inboundLeg('leg-answered', info, event, at);
    const caller = partyOf(event['CallerIDNum'], event['CallerIDName']);
    if (caller.number !== null) leg.caller = caller;
    return this.legs(leg);
  }

  private onAgentRingNoAnswer(event: AmiMessage, at: number): NormalisedOutput {
    // The member's ring timed out; its Hangup follows (and is deduplicated by the
    // tracker), but this closes the pop at once with a reason an agent understands.
    const info = this.destInfo(event);
    if (!info || info.agent === null || info.localSecondHalf || info.role !== 'ringing') return NOTHING;
    const leg = this.inboundLeg('leg-hangup', info, event, at);
    const ringTime = event['RingTime'];
    leg.cause = ringTime ? `ring no answer (${ringTime} ms)` : 'ring no answer';
    return this.legs(leg);
  }

  private onBlindTransfer(event: AmiMessage, at: number): NormalisedOutput {
    if (event['Result'] !== 'Success') return NOTHING;
    const legId = event['TransfererUniqueid'];
    const channel = event['TransfererChannel'];
    const callId = event['TransfereeLinkedid'] ?? event['TransfererLinkedid'];
    if (!legId || !channel || !callId) return NOTHING;
    const device = deviceOf(channel);
    if (this.agentFor(device) === null) return NOTHING;
    const leg: LegEvent = {
      type: 'call-transfer',
      pbxId: this.pbxId,
      callId,
      legId,
      device,
      direction: this.directionOf(this.channels.get(legId)),
      caller: partyOf(event['TransfereeCallerIDNum'], event['TransfereeCallerIDName']),
      callee: { number: event['Extension'] || null, name: null },
      at,
    };
    if (this.keepRaw) leg.raw = event;
    return this.legs(leg);
  }

  /**
   * Attended transfer: the transferring agent had the customer on one channel and
   * consulted the target on another. The transferring leg is the one on the customer's
   * (transferee's) call; the target's leg, already up on the consultation call, is
   * re-announced on the customer's call so the tracker moves it there.
   */
  private onAttendedTransfer(event: AmiMessage, at: number): NormalisedOutput {
    if (event['Result'] !== 'Success') return NOTHING;
    const callId = event['TransfereeLinkedid'];
    if (!callId) return NOTHING;
    const transferer = event['OrigTransfererLinkedid'] === callId ? 'OrigTransferer' : 'SecondTransferer';
    const consult = transferer === 'OrigTransferer' ? 'SecondTransferer' : 'OrigTransferer';
    const legId = event[`${transferer}Uniqueid`];
    const channel = event[`${transferer}Channel`];
    if (!legId || !channel) return NOTHING;
    const device = deviceOf(channel);
    const legs: LegEvent[] = [];
    const target = this.transferTarget(event, consult);
    const caller = partyOf(event['TransfereeCallerIDNum'], event['TransfereeCallerIDName']);
    if (this.agentFor(device) !== null) {
      const transfer: LegEvent = {
        type: 'call-transfer',
        pbxId: this.pbxId,
        callId,
        legId,
        device,
        direction: this.directionOf(this.channels.get(legId)),
        caller,
        callee: { number: target?.agent ?? event['TransferTargetCallerIDNum'] ?? null, name: null },
        at,
      };
      if (this.keepRaw) transfer.raw = event;
      legs.push(transfer);
    }
    if (target && target.agent !== null) {
      // The target's channel now talks to the customer: it belongs to the customer's call.
      target.linkedid = callId;
      target.role = 'ringing';
      const base = {
        pbxId: this.pbxId,
        callId,
        legId: target.uniqueid,
        device: target.device,
        direction: this.directionOf(this.channels.get(callId)),
        caller,
        callee: { number: target.agent, name: null },
        anonymous: isAnonymousNumber(event['TransfereeCallerIDNum']),
        at,
      };
      legs.push({ type: 'leg-ringing', ...base }, { type: 'leg-answered', ...base });
    }
    return legs.length ? { legs, early: [] } : NOTHING;
  }

  /** The target's channel: from `TransferTarget*` (Asterisk 13+), else the other agent on the consultation call. */
  private transferTarget(event: AmiMessage, consult: string): ChannelInfo | undefined {
    const targetId = event['TransferTargetUniqueid'];
    if (targetId) {
      const known = this.channels.get(targetId);
      if (known) return known;
      const channel = event['TransferTargetChannel'];
      if (channel) {
        return this.remember({
          Channel: channel,
          Uniqueid: targetId,
          Linkedid: event['TransferTargetLinkedid'] ?? targetId,
        } as AmiMessage) ?? undefined;
      }
    }
    const consultId = event[`${consult}Uniqueid`];
    const consultLinked = event[`${consult}Linkedid`];
    if (!consultLinked) return undefined;
    for (const info of this.channels.values()) {
      if (info.linkedid === consultLinked && info.uniqueid !== consultId && info.agent !== null && !info.localSecondHalf && info.role !== null) {
        return info;
      }
    }
    return undefined;
  }

  private destInfo(event: AmiMessage): ChannelInfo | undefined {
    const dest = event['DestUniqueid'];
    if (!dest) return undefined;
    const known = this.channels.get(dest);
    if (known) return known;
    const channel = event['DestChannel'];
    if (!channel) return undefined;
    return this.remember({ Channel: channel, Uniqueid: dest, Linkedid: event['DestLinkedid'] ?? event['Linkedid'] ?? dest } as AmiMessage) ?? undefined;
  }

  private inboundLeg(type: LegEvent['type'], info: ChannelInfo, event: AmiMessage, at: number): LegEvent {
    const callerNumber = event['ConnectedLineNum'];
    const leg: LegEvent = {
      type,
      pbxId: this.pbxId,
      callId: info.linkedid,
      legId: info.uniqueid,
      device: info.device,
      direction: this.directionOf(info),
      caller: partyOf(callerNumber, event['ConnectedLineName']),
      callee: { number: info.agent, name: null },
      anonymous: isAnonymousNumber(callerNumber),
      at,
    };
    const queue = this.queueByLeg.get(info.uniqueid) ?? this.queueByCall.get(info.linkedid);
    if (queue) leg.queue = queue;
    const origin = this.channels.get(info.linkedid);
    if (origin && origin.agent === null && origin.exten && origin.exten !== 's') leg.did = origin.exten;
    if (this.keepRaw) leg.raw = event;
    return leg;
  }

  private outboundLeg(type: LegEvent['type'], info: ChannelInfo, callee: Party, event: AmiMessage, at: number): LegEvent {
    const leg: LegEvent = {
      type,
      pbxId: this.pbxId,
      callId: info.linkedid,
      legId: info.uniqueid,
      device: info.device,
      direction: 'outbound',
      caller: { number: info.agent, name: null },
      callee,
      at,
    };
    if (this.keepRaw) leg.raw = event;
    return leg;
  }

  private directionOf(info: ChannelInfo | undefined): CallDirection {
    if (!info) return 'inbound';
    const origin = info.uniqueid === info.linkedid ? info : this.channels.get(info.linkedid);
    // A call whose first channel is an agent's is internal (agent to agent) unless this is that agent's own leg.
    if (origin && origin.agent !== null && origin !== info) return 'internal';
    if (origin === info && info.agent !== null) return 'outbound';
    return 'inbound';
  }

  private legs(leg: LegEvent): NormalisedOutput {
    return { legs: [leg], early: [] };
  }

  private lookup(event: AmiMessage): ChannelInfo | undefined {
    const uniqueid = event['Uniqueid'];
    if (uniqueid === undefined) return undefined;
    return this.channels.get(uniqueid) ?? this.remember(event) ?? undefined;
  }

  /** Registers (or refreshes) a channel from any event that names it. */
  private remember(event: AmiMessage): ChannelInfo | null {
    const uniqueid = event['Uniqueid'];
    const channel = event['Channel'];
    if (uniqueid === undefined || channel === undefined) return null;
    const existing = this.channels.get(uniqueid);
    if (existing) return existing;
    if (this.channels.size >= this.maxChannels) this.forgetOldest(this.channels, 'forgottenChannels');
    const device = deviceOf(channel);
    const info: ChannelInfo = {
      uniqueid,
      linkedid: event['Linkedid'] ?? uniqueid,
      channel,
      device,
      agent: this.agentFor(device),
      localSecondHalf: channel.startsWith('Local/') && channel.endsWith(';2'),
      role: null,
      exten: event['Exten'] ?? '',
      earlySent: false,
    };
    this.channels.set(uniqueid, info);
    return info;
  }

  private forgetOldest<V>(map: Map<string, V>, cause: keyof AsteriskNormaliserStats): void {
    const first = map.keys().next();
    if (!first.done) map.delete(first.value);
    this.stats[cause] += 1;
    if (this.warned.has(cause)) return;
    this.warned.add(cause);
    this.logger.warn(
      { maxChannels: this.maxChannels, cause },
      cause === 'forgottenChannels'
        ? 'AMI channel memory at limits.max_channels, forgetting the oldest (lost Hangups?); logged once, counted in stats.forgottenChannels'
        : 'AMI queue memory at limits.max_channels, forgetting the oldest; logged once, counted in stats.forgottenQueueLinks',
    );
  }
}

/** `Duration: 00:01:05` (how long the channel exists) -> when it started. */
function startedFromDuration(duration: string | undefined, now: number): { startedAt?: number } {
  const m = /^(\d+):(\d{2}):(\d{2})$/.exec(duration?.trim() ?? '');
  if (!m) return {};
  const seconds = Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]);
  return { startedAt: now - seconds * 1000 };
}
