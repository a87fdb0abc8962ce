import type { CallDirection, Party } from '../../model/call-event.js';
import type { ActiveLeg, LegEvent, LegEventType } from '../../model/leg-event.js';
import type { Logger } from '../../model/logger.js';
import { silentLogger } from '../../model/logger.js';
import type { EarlyCall } from '../pbx-adapter.js';
import { headerText, type EslEvent, type EslHeaders } from './esl-codec.js';
import { CallpopError } from '../../model/errors.js';

/**
 * FreeSWITCH ESL events -> LegEvents (facts about agent legs) and EarlyCalls.
 *
 * Which channel is what (test/fixtures/freeswitch/README.md, "What a screen-pop daemon
 * should key on"):
 * - agent leg: an **outbound** channel with `Channel-Presence-ID` or `variable_dialed_user`
 *   (what `user/1001@domain` dials: `sofia/internal/1001@...` in real life, `loopback/1001-a`
 *   in the traces). Its device is `user/<user>`. Inbound channels carrying a presence id
 *   are never agent legs of an inbound call: on loopback that is the simulated phone (`-b`).
 * - agent's own call: an **inbound**, non-loopback channel with `Channel-Presence-ID` or
 *   `variable_user_name` (a registered phone dialling out): `leg-dialing`.
 * - trunk leg: inbound, context in `trunkContexts` (FreeSWITCH's stock `public`): `early`.
 *
 * The callId is the originating (trunk) leg's UUID, remembered when a leg is first seen
 * (`Other-Leg-Unique-ID` with `Other-Type: originator`, `variable_originating_leg_uuid`,
 * mod_callcenter's `variable_cc_member_session_uuid`) and inherited down the chain. We never
 * read `Channel-Call-UUID` at hangup: it reverts to the leg's own UUID once the partner is
 * gone (README gotcha 2).
 */

export type FreeswitchOutput = { kind: 'leg'; leg: LegEvent } | { kind: 'early'; early: EarlyCall };

export interface FreeswitchNormaliserOptions {
  pbxId: string;
  /** Contexts of inbound trunk legs (`trunk_contexts`). */
  trunkContexts: readonly string[];
  /** `support@default` -> `support` (`strip_queue_domain`). */
  stripQueueDomain: boolean;
  /** Channels remembered at most, oldest dropped past it (`limits.max_channels`). */
  maxChannels: number;
  /** Ended channel ids remembered to ignore their late events. Default 10 000. */
  endedMemory?: number;
  /** Attach the ESL event to each LegEvent's `raw` (debugging). Default true. */
  keepRaw?: boolean;
  logger?: Logger;
}

/** Channel events the normaliser reads (each carries the channel's headers and variables). */
const CHANNEL_EVENT_NAMES = [
  'CHANNEL_CREATE',
  'CHANNEL_PROGRESS',
  'CHANNEL_PROGRESS_MEDIA',
  'CHANNEL_ANSWER',
  'CHANNEL_BRIDGE',
  'CHANNEL_UNBRIDGE',
  'CHANNEL_PARK',
  'CHANNEL_HANGUP',
  'CHANNEL_HANGUP_COMPLETE',
  'CALL_UPDATE',
] as const;

const CHANNEL_EVENTS: ReadonlySet<string> = new Set(CHANNEL_EVENT_NAMES);

/**
 * The events the normaliser reads; subscribe to exactly these (`event json ...`).
 * CHANNEL_CALLSTATE and CHANNEL_OUTGOING are left out on purpose: they carry no
 * `variable_*` headers, so they cannot tell an agent leg from any other (gotcha 4).
 */
export const FREESWITCH_EVENT_SUBSCRIPTION: readonly string[] = [...CHANNEL_EVENT_NAMES, 'API', 'HEARTBEAT', 'CUSTOM', 'callcenter::info'];

type Role = 'agent' | 'trunk' | 'other';
/** inbound: the agent is being called; click-to-dial: an originate rings the agent first; dialout: the agent's phone dials. */
type AgentMode = 'inbound' | 'click-to-dial' | 'dialout';

interface Channel {
  uuid: string;
  role: Role;
  callId: string;
  direction: CallDirection;
  caller: Party;
  callee: Party;
  anonymous: boolean;
  queue?: string;
  did?: string;
  // agent legs
  mode?: AgentMode;
  device?: string;
  user?: string;
  started: boolean;
  answered: boolean;
  /** att_xfer: the agent leg that originated this consult leg. */
  consultFrom?: { legId: string; device: string };
  /** The caller's leg this agent leg was last bridged to. */
  bridgedTo?: string;
  // non-agent legs
  earlySent?: boolean;
  transferSource?: string;
  lastAgent?: { legId: string; device: string };
  /**
   * The agent leg whose transfer of this caller was already announced (by `uuid_transfer`,
   * by the agent's REFER hangup, or by the new caller profile), so it is announced once.
   */
  transferAnnouncedFrom?: string;
}

/** What the normaliser dropped to protect its memory; each cause is logged once, then only counted. */
export interface FreeswitchNormaliserStats {
  /** Channels forgotten at maxChannels (their hangup probably never came). */
  forgottenChannels: number;
  /** mod_callcenter member queues forgotten at maxChannels. */
  forgottenMemberQueues: number;
}

export class FreeswitchNormaliser {
  readonly stats: FreeswitchNormaliserStats = { forgottenChannels: 0, forgottenMemberQueues: 0 };
  /** Causes already logged: a PBX that never sends hangups must not get one warning per event. */
  private readonly warned = new Set<keyof FreeswitchNormaliserStats>();
  private readonly pbxId: string;
  private readonly trunkContexts: ReadonlySet<string>;
  private readonly stripQueueDomain: boolean;
  private readonly maxChannels: number;
  private readonly endedMemory: number;
  private readonly keepRaw: boolean;
  private readonly logger: Logger;
  private readonly channels = new Map<string, Channel>();
  private readonly ended = new Set<string>();
  /** mod_callcenter member session -> queue, from member-queue-start (bounded with channels). */
  private readonly memberQueues = new Map<string, string>();

  constructor(options: FreeswitchNormaliserOptions) {
    this.pbxId = options.pbxId;
    this.trunkContexts = new Set(options.trunkContexts);
    this.stripQueueDomain = options.stripQueueDomain;
    this.maxChannels = options.maxChannels;
    this.endedMemory = options.endedMemory ?? 10_000;
    this.keepRaw = options.keepRaw ?? true;
    this.logger = options.logger ?? silentLogger;
  }

  /** Channels currently remembered (for metrics and the memory-bound tests). */
  get size(): number {
    return this.channels.size;
  }

  handle(event: EslEvent): FreeswitchOutput[] {
    const name = event.name;
    if (CHANNEL_EVENTS.has(name)) return this.onChannelEvent(event);
    if (name === 'CUSTOM') {
      if (headerText(event.headers, 'Event-Subclass') === 'callcenter::info') return this.onCallcenter(event);
      return [];
    }
    if (name === 'API') return this.onApi(event);
    return [];
  }

  /**
   * Turns `api show channels as json` into the agent legs that are up or ringing now, and
   * forgets channels that ended while the link was down. Unknown legs are adopted so a
   * later hangup is not lost and a later ANSWER does not pop again.
   */
  resync(showChannelsJson: string, now = Date.now()): ActiveLeg[] {
    const rows = channelRows(showChannelsJson);
    const seen = new Set<string>();
    const active: ActiveLeg[] = [];
    const pendingTrunks: Array<[string, { legId: string; device: string }]> = [];
    for (const row of rows) {
      const text = (key: string): string => {
        const v = row[key];
        return typeof v === 'string' ? v : '';
      };
      const uuid = text('uuid');
      if (!uuid) continue;
      seen.add(uuid);
      const state = activeState(text('callstate'));
      let ch = this.channels.get(uuid);
      if (!ch) {
        ch = this.adoptRow(uuid, text);
        if (!ch) continue;
      }
      if (ch.role !== 'agent') continue;
      if (ch.mode === 'click-to-dial' && !ch.started) continue; // dialing not known yet: its event will come
      if (state === 'other' && !ch.started) continue;
      ch.started = true;
      if (state === 'up') ch.answered = true;
      if (ch.device) {
        active.push({
          pbxId: this.pbxId,
          callId: ch.callId,
          legId: ch.uuid,
          device: ch.device,
          state,
          caller: ch.caller,
          callee: ch.callee,
          direction: ch.direction,
          ...startedFromEpoch(text('created_epoch'), now),
        });
        if (ch.callId !== ch.uuid && ch.mode === 'inbound') pendingTrunks.push([ch.callId, { legId: ch.uuid, device: ch.device }]);
      }
    }
    for (const uuid of [...this.channels.keys()]) {
      if (!seen.has(uuid)) this.forget(uuid);
    }
    for (const [trunkId, agent] of pendingTrunks) {
      const trunk = this.channels.get(trunkId);
      if (trunk && trunk.role !== 'agent' && !trunk.lastAgent) this.bridged(trunk, agent);
    }
    return active;
  }

  // ---------------------------------------------------------------------------------------

  private onChannelEvent(event: EslEvent): FreeswitchOutput[] {
    const h = event.headers;
    const uuid = headerText(h, 'Unique-ID');
    if (!uuid || this.ended.has(uuid)) return [];
    const out: FreeswitchOutput[] = [];
    let ch = this.channels.get(uuid);
    if (!ch) {
      ch = this.classify(uuid, event);
      this.remember(ch);
      if (ch.role === 'agent' && ch.mode === 'dialout') this.start(ch, 'leg-dialing', event, out);
    }
    const name = event.name;
    if (name === 'CHANNEL_HANGUP' || name === 'CHANNEL_HANGUP_COMPLETE') {
      if (ch.role === 'agent' && ch.started) {
        this.detectReferTransfer(ch, event, out);
        out.push(this.leg('leg-hangup', ch, event, { cause: headerText(h, 'Hangup-Cause') || headerText(h, 'variable_hangup_cause') || undefined }));
      }
      this.forget(uuid);
      this.markEnded(uuid);
      return out;
    }
    if (name === 'CHANNEL_BRIDGE' && ch.role === 'agent' && ch.device) {
      // uuid_bridge reports the bridge on its originator, which may be the agent's side.
      const other = this.channels.get(headerText(h, 'Other-Leg-Unique-ID') ?? headerText(h, 'Bridge-B-Unique-ID') ?? '');
      if (other && other.role !== 'agent' && this.joinCall(other, ch, event, out)) {
        this.bridged(other, { legId: ch.uuid, device: ch.device });
        return out;
      }
    }
    if (ch.role === 'agent') this.onAgentEvent(ch, event, out);
    else this.onOtherEvent(ch, event, out);
    return out;
  }

  private onAgentEvent(ch: Channel, event: EslEvent, out: FreeswitchOutput[]): void {
    const h = event.headers;
    switch (ch.mode) {
      case 'inbound':
        if (event.name === 'CHANNEL_PROGRESS' || event.name === 'CHANNEL_PROGRESS_MEDIA') {
          this.start(ch, 'leg-ringing', event, out);
        } else if (event.name === 'CHANNEL_ANSWER') {
          // A phone that answers without ringing first (auto-answer) still gets its pop.
          this.start(ch, 'leg-ringing', event, out);
          this.answer(ch, event, out);
        }
        return;
      case 'click-to-dial':
        // The agent's own phone rings first: never an inbound pop. The dialled number is
        // known once the answered leg enters the dialplan (CALL_UPDATE, new caller profile).
        if (headerText(h, 'Channel-HIT-Dialplan') === 'true') {
          const dest = headerText(h, 'Caller-Destination-Number');
          if (dest && dest !== ch.user) {
            ch.callee = { number: dest, name: null };
            this.start(ch, 'leg-dialing', event, out);
          }
        }
        if (event.name === 'CHANNEL_BRIDGE') {
          this.fillCalleeFromOtherLeg(ch, h);
          this.start(ch, 'leg-dialing', event, out);
          this.answer(ch, event, out);
        }
        return;
      case 'dialout':
        if (event.name === 'CHANNEL_BRIDGE') {
          // CHANNEL_BRIDGE fires on the A-leg once the far end answered.
          this.start(ch, 'leg-dialing', event, out);
          this.answer(ch, event, out);
        }
        return;
      default:
        return;
    }
  }

  private onOtherEvent(ch: Channel, event: EslEvent, out: FreeswitchOutput[]): void {
    const h = event.headers;
    if (ch.role === 'trunk' && !ch.earlySent && event.name !== 'CALL_UPDATE') {
      ch.earlySent = true;
      out.push({ kind: 'early', early: { pbxId: this.pbxId, callId: ch.callId, caller: ch.caller, anonymous: ch.anonymous } });
    }
    if (event.name === 'CHANNEL_BRIDGE') {
      const agentId = headerText(h, 'Other-Leg-Unique-ID') ?? headerText(h, 'Bridge-B-Unique-ID');
      const agent = agentId ? this.channels.get(agentId) : undefined;
      if (agent?.role === 'agent' && agent.device) {
        this.joinCall(ch, agent, event, out);
        this.bridged(ch, { legId: agent.uuid, device: agent.device });
      }
    }
    // The far end of a click-to-dial or agent dial-out: its answer answers the agent's call.
    const originator = headerText(h, 'Other-Type') === 'originator' ? headerText(h, 'Other-Leg-Unique-ID') : undefined;
    const agent = originator ? this.channels.get(originator) : undefined;
    if (agent?.role === 'agent' && (agent.mode === 'click-to-dial' || agent.mode === 'dialout')) {
      if (!agent.started && agent.mode === 'click-to-dial') {
        const dest = headerText(h, 'Caller-Destination-Number');
        if (dest) agent.callee = { number: dest, name: null };
        this.start(agent, 'leg-dialing', event, out);
      }
      if (event.name === 'CHANNEL_ANSWER') this.answer(agent, event, out);
    }
    this.detectTransfer(ch, event, out);
  }

  /**
   * A blind transfer (uuid_transfer, SIP REFER, `transfer` after a bridge) shows only on the
   * caller's leg: a new caller profile whose `Caller-Transfer-Source` names `bl_xfer`. The
   * transferring agent's leg just hangs up with NORMAL_CLEARING (README "Blind transfer").
   */
  private detectTransfer(ch: Channel, event: EslEvent, out: FreeswitchOutput[]): void {
    const source = headerText(event.headers, 'Caller-Transfer-Source');
    if (!source || source === ch.transferSource) return;
    ch.transferSource = source;
    const from = ch.lastAgent;
    if (!from || !source.includes(':bl_xfer:')) return;
    if (ch.transferAnnouncedFrom === from.legId) return;
    ch.transferAnnouncedFrom = from.legId;
    out.push(this.transferEvent(ch, from, headerText(event.headers, 'Caller-Destination-Number') ?? null, event));
  }

  /**
   * The phone's own transfer key (SIP REFER, blind). mod_sofia's `sofia_handle_sip_i_refer`
   * leaves on the agent's leg `endpoint_disposition=BLIND_TRANSFER`,
   * `transfer_to=blind:<caller leg>` and `transfer_destination=blind:<target>`, then the
   * phone hangs up. The caller's new profile (detectTransfer) may come before or after this
   * hangup; whichever comes first announces the transfer, so the agent gets `transferred`
   * before `ended` in both orders, and the target only once.
   */
  private detectReferTransfer(agent: Channel, event: EslEvent, out: FreeswitchOutput[]): void {
    const h = event.headers;
    if (headerText(h, 'variable_endpoint_disposition') !== 'BLIND_TRANSFER' || !agent.device) return;
    const callerId = withoutBlindPrefix(headerText(h, 'variable_transfer_to')) ?? agent.bridgedTo;
    const caller = callerId ? this.channels.get(callerId) : undefined;
    if (!caller || caller.role === 'agent' || caller.transferAnnouncedFrom === agent.uuid) return;
    caller.transferAnnouncedFrom = agent.uuid;
    const dest = withoutBlindPrefix(headerText(h, 'variable_transfer_destination')) ?? null;
    out.push(this.transferEvent(caller, { legId: agent.uuid, device: agent.device }, dest, event));
  }

  /**
   * An agent leg of one call bridged to the caller's leg of another: the phone's attended
   * transfer (REFER with Replaces: mod_sofia `uuid_bridge`s the customer to the consulted
   * colleague, then hangs up the transferring agent's two dialogs with ATTENDED_TRANSFER).
   * The agent who had the customer hands the call over, and the colleague's leg moves onto
   * the customer's call, where it is announced again (the tracker ends the consultation for
   * it and pops the customer, with `transferredFrom`). Returns whether it was such a join.
   */
  private joinCall(caller: Channel, agent: Channel, event: EslEvent, out: FreeswitchOutput[]): boolean {
    if (caller.role === 'agent' || agent.role !== 'agent' || agent.mode !== 'inbound' || !agent.started) return false;
    if (agent.callId === caller.callId) return false;
    const from = caller.lastAgent;
    if (!from || from.legId === agent.uuid) return false;
    caller.transferAnnouncedFrom = from.legId;
    out.push(this.transferEvent(caller, from, agent.user ?? null, event));
    Object.assign(agent, {
      callId: caller.callId,
      direction: caller.direction,
      caller: caller.caller,
      anonymous: caller.anonymous,
      queue: caller.queue,
      did: caller.did,
      consultFrom: undefined,
      started: false,
      answered: false,
    });
    this.start(agent, 'leg-ringing', event, out);
    this.answer(agent, event, out);
    return true;
  }

  private bridged(caller: Channel, agent: { legId: string; device: string }): void {
    caller.lastAgent = agent;
    const leg = this.channels.get(agent.legId);
    if (leg) leg.bridgedTo = caller.uuid;
  }

  /**
   * `uuid_transfer <uuid> [-bleg|-both] <dest> ...` seen as an API event. It arrives before
   * the transferring agent's hangup (trace 05), so the agent still gets its `transferred`.
   */
  private onApi(event: EslEvent): FreeswitchOutput[] {
    const h = event.headers;
    if (headerText(h, 'API-Command') !== 'uuid_transfer') return [];
    const args = (headerText(h, 'API-Command-Argument') ?? '').trim().split(/\s+/);
    const target = args[0] ? this.channels.get(args[0]) : undefined;
    if (!target) return [];
    let flag: string | undefined;
    let dest = args[1];
    if (dest?.startsWith('-')) {
      flag = dest;
      dest = args[2];
    }
    let caller: Channel | undefined;
    let from: { legId: string; device: string } | undefined;
    if (target.role === 'agent' && target.mode === 'inbound' && flag === '-bleg' && target.device) {
      from = { legId: target.uuid, device: target.device };
      caller = this.channels.get(target.callId);
    } else if (target.role !== 'agent' && flag === undefined && target.lastAgent) {
      from = target.lastAgent;
      caller = target;
    }
    if (!from) return [];
    if (caller && caller.role !== 'agent') caller.transferAnnouncedFrom = from.legId;
    const base = caller && caller.role !== 'agent' ? caller : target;
    return [this.transferEvent(base, from, dest ?? null, event)];
  }

  private onCallcenter(event: EslEvent): FreeswitchOutput[] {
    const h = event.headers;
    const action = headerText(h, 'CC-Action');
    const out: FreeswitchOutput[] = [];
    if (action === 'member-queue-start') {
      const member = headerText(h, 'CC-Member-Session-UUID') || headerText(h, 'Unique-ID');
      const queue = this.queueName(headerText(h, 'CC-Queue'));
      if (!member) return out;
      if (queue) {
        this.memberQueues.set(member, queue);
        if (this.memberQueues.size > this.maxChannels) this.forgetOldest(this.memberQueues, 'forgottenMemberQueues');
      }
      let ch = this.channels.get(member);
      if (!ch && !this.ended.has(member)) {
        const party = partyOf(headerText(h, 'CC-Member-CID-Number'), headerText(h, 'CC-Member-CID-Name'), h);
        ch = {
          uuid: member,
          role: 'trunk',
          callId: member,
          direction: 'inbound',
          caller: party.party,
          callee: { number: null, name: null },
          anonymous: party.anonymous,
          started: false,
          answered: false,
        };
        this.remember(ch);
      }
      if (ch && ch.role !== 'agent') {
        if (queue) ch.queue = queue;
        if (!ch.earlySent) {
          ch.earlySent = true;
          out.push({ kind: 'early', early: { pbxId: this.pbxId, callId: ch.callId, caller: ch.caller, anonymous: ch.anonymous } });
        }
      }
      return out;
    }
    if (action === 'bridge-agent-start') {
      // The agent answered and mod_callcenter bridges it to the member (uuid_bridge).
      const agentId = headerText(h, 'CC-Agent-UUID');
      const agent = agentId ? this.channels.get(agentId) : undefined;
      if (agent?.role === 'agent' && agent.mode === 'inbound') {
        this.start(agent, 'leg-ringing', event, out);
        this.answer(agent, event, out);
        const member = this.channels.get(headerText(h, 'CC-Member-Session-UUID') ?? '');
        if (member && member.role !== 'agent' && agent.device) this.bridged(member, { legId: agent.uuid, device: agent.device });
      }
      return out;
    }
    // agent-offering precedes the agent leg, which carries cc_queue / cc_member_session_uuid
    // itself; bridge-agent-end and member-queue-end come with or after the legs' hangups.
    return out;
  }

  // ---------------------------------------------------------------------------------------

  private classify(uuid: string, event: EslEvent): Channel {
    const h = event.headers;
    const direction = headerText(h, 'Call-Direction');
    const presenceUser = userPart(headerText(h, 'Channel-Presence-ID'));
    const channelName = headerText(h, 'Channel-Name') ?? '';
    const loopback = channelName.startsWith('loopback/') || headerText(h, 'variable_is_loopback') === 'true';
    const originator = headerText(h, 'Other-Type') === 'originator' ? headerText(h, 'Other-Leg-Unique-ID') : headerText(h, 'variable_originating_leg_uuid');
    const base = {
      uuid,
      started: false,
      answered: false,
    };

    if (direction === 'outbound') {
      const user = headerText(h, 'variable_dialed_user') || presenceUser;
      if (user) {
        const device = `user/${user}`;
        const { party: caller, anonymous } = partyOf(headerText(h, 'Caller-Caller-ID-Number'), headerText(h, 'Caller-Caller-ID-Name'), h);
        const agentParty: Party = { number: user, name: headerText(h, 'variable_effective_caller_id_name') || null };
        const member = headerText(h, 'variable_cc_member_session_uuid');
        if (member) {
          const root = this.channels.get(member);
          return {
            ...base,
            role: 'agent',
            mode: 'inbound',
            device,
            user,
            callId: root?.callId ?? member,
            direction: 'inbound',
            caller,
            callee: agentParty,
            anonymous,
            queue: this.queueName(headerText(h, 'variable_cc_queue')) ?? this.memberQueues.get(member) ?? root?.queue,
            did: root?.did,
          };
        }
        if (originator) {
          const origin = this.channels.get(originator);
          const ch: Channel = {
            ...base,
            role: 'agent',
            mode: 'inbound',
            device,
            user,
            callId: origin?.callId ?? originator,
            direction: origin?.role === 'agent' && origin.mode !== 'inbound' ? 'internal' : (origin?.direction ?? 'inbound'),
            caller,
            callee: agentParty,
            anonymous,
            queue: origin?.queue,
            did: origin?.did,
          };
          if (origin?.role === 'agent' && origin.mode === 'inbound' && origin.device && origin.device !== device) {
            // att_xfer: the agent's own leg originates the consult leg to the colleague.
            ch.consultFrom = { legId: origin.uuid, device: origin.device };
            ch.caller = origin.caller;
            ch.anonymous = origin.anonymous;
          }
          return ch;
        }
        // Nobody originated it but an `originate` (click-to-dial): the agent's phone rings
        // first, showing the number about to be called; that is not an inbound caller.
        return {
          ...base,
          role: 'agent',
          mode: 'click-to-dial',
          device,
          user,
          callId: uuid,
          direction: 'outbound',
          caller: { number: headerText(h, 'variable_effective_caller_id_number') || user, name: headerText(h, 'variable_effective_caller_id_name') || null },
          callee: { number: null, name: null },
          anonymous: false,
        };
      }
    } else if (direction === 'inbound' && !loopback) {
      const user = presenceUser || headerText(h, 'variable_user_name');
      if (user) {
        return {
          ...base,
          role: 'agent',
          mode: 'dialout',
          device: `user/${user}`,
          user,
          callId: uuid,
          direction: 'outbound',
          caller: {
            number: headerText(h, 'variable_effective_caller_id_number') || headerText(h, 'Caller-Caller-ID-Number') || user,
            name: headerText(h, 'variable_effective_caller_id_name') || headerText(h, 'Caller-Caller-ID-Name') || null,
          },
          callee: { number: headerText(h, 'Caller-Destination-Number') || null, name: null },
          anonymous: false,
        };
      }
    }

    const origin = originator ? this.channels.get(originator) : undefined;
    const { party, anonymous } = partyOf(headerText(h, 'Caller-Caller-ID-Number'), headerText(h, 'Caller-Caller-ID-Name'), h);
    const trunk = direction === 'inbound' && this.trunkContexts.has(headerText(h, 'Caller-Context') ?? '');
    return {
      ...base,
      role: trunk ? 'trunk' : 'other',
      callId: origin?.callId ?? originator ?? uuid,
      direction: 'inbound',
      caller: party,
      callee: { number: null, name: null },
      anonymous,
      did: trunk ? headerText(h, 'Caller-Destination-Number') || undefined : undefined,
      // A transfer before any agent (IVR -> queue) is history, not a handover between agents.
      transferSource: headerText(h, 'Caller-Transfer-Source'),
      queue: this.memberQueues.get(uuid),
    };
  }

  private adoptRow(uuid: string, text: (key: string) => string): Channel | undefined {
    const direction = text('direction');
    const presenceUser = userPart(text('presence_id'));
    const loopback = text('name').startsWith('loopback/');
    const callUuid = text('call_uuid');
    if (direction === 'outbound' && presenceUser) {
      const rootId = callUuid && callUuid !== uuid ? callUuid : undefined;
      const root = rootId ? this.channels.get(rootId) : undefined;
      const hide = text('cid_num').toLowerCase() === 'anonymous';
      const ch: Channel = {
        uuid,
        role: 'agent',
        mode: rootId ? 'inbound' : 'click-to-dial',
        device: `user/${presenceUser}`,
        user: presenceUser,
        callId: root?.callId ?? rootId ?? uuid,
        direction: rootId ? 'inbound' : 'outbound',
        caller: rootId
          ? { number: hide ? null : text('cid_num') || null, name: text('cid_name') || null }
          : { number: presenceUser, name: null },
        callee: rootId ? { number: presenceUser, name: null } : { number: destOrNull(text('dest'), presenceUser), name: null },
        anonymous: hide,
        queue: root?.queue,
        did: root?.did,
        started: false,
        answered: false,
      };
      if (!rootId) ch.started = ch.callee.number !== null;
      this.remember(ch);
      return ch;
    }
    if (direction === 'inbound' && presenceUser && !loopback) {
      const ch: Channel = {
        uuid,
        role: 'agent',
        mode: 'dialout',
        device: `user/${presenceUser}`,
        user: presenceUser,
        callId: uuid,
        direction: 'outbound',
        caller: { number: text('cid_num') || presenceUser, name: text('cid_name') || null },
        callee: { number: text('dest') || null, name: null },
        anonymous: false,
        started: false,
        answered: false,
      };
      this.remember(ch);
      return ch;
    }
    const trunk = direction === 'inbound' && this.trunkContexts.has(text('initial_context') || text('context'));
    const ch: Channel = {
      uuid,
      role: trunk ? 'trunk' : 'other',
      callId: callUuid && callUuid !== uuid ? (this.channels.get(callUuid)?.callId ?? callUuid) : uuid,
      direction: 'inbound',
      caller: { number: text('cid_num') || null, name: text('cid_name') || null },
      callee: { number: null, name: null },
      anonymous: text('cid_num').toLowerCase() === 'anonymous',
      did: trunk ? text('initial_dest') || text('dest') || undefined : undefined,
      started: false,
      answered: false,
      earlySent: true, // the call is already under way: no prefetch after a restart
    };
    this.remember(ch);
    return undefined;
  }

  private start(ch: Channel, type: 'leg-ringing' | 'leg-dialing', event: EslEvent, out: FreeswitchOutput[]): void {
    if (ch.started) return;
    if (type === 'leg-dialing' && !ch.callee.number) return;
    ch.started = true;
    if (ch.mode === 'click-to-dial') {
      // The directory's effective_caller_id_* show up once the answered leg enters the dialplan.
      const h = event.headers;
      const number = headerText(h, 'variable_effective_caller_id_number');
      const name = headerText(h, 'variable_effective_caller_id_name');
      if (number || name) ch.caller = { number: number || ch.caller.number, name: name || ch.caller.name };
    }
    if (ch.consultFrom) out.push(this.transferEvent(this.channels.get(ch.callId) ?? ch, ch.consultFrom, ch.user ?? null, event));
    out.push(this.leg(type, ch, event));
  }

  private answer(ch: Channel, event: EslEvent, out: FreeswitchOutput[]): void {
    if (!ch.started || ch.answered) return;
    ch.answered = true;
    out.push(this.leg('leg-answered', ch, event));
  }

  private fillCalleeFromOtherLeg(ch: Channel, h: EslHeaders): void {
    if (ch.callee.number) return;
    const dest = headerText(h, 'Other-Leg-Destination-Number');
    if (dest && dest !== ch.user) ch.callee = { number: dest, name: null };
  }

  private transferEvent(call: Channel, from: { legId: string; device: string }, dest: string | null, event: EslEvent): FreeswitchOutput {
    const leg: LegEvent = {
      type: 'call-transfer',
      pbxId: this.pbxId,
      callId: call.callId,
      legId: from.legId,
      device: from.device,
      direction: call.role === 'agent' ? call.direction : 'inbound',
      caller: call.caller,
      callee: { number: dest, name: null },
      anonymous: call.anonymous,
      at: timestampOf(event),
    };
    if (this.keepRaw) leg.raw = event;
    return { kind: 'leg', leg };
  }

  private leg(type: LegEventType, ch: Channel, event: EslEvent, extra?: { cause?: string }): FreeswitchOutput {
    const leg: LegEvent = {
      type,
      pbxId: this.pbxId,
      callId: ch.callId,
      legId: ch.uuid,
      device: ch.device ?? '',
      direction: ch.direction,
      caller: ch.caller,
      callee: ch.callee,
      anonymous: ch.anonymous,
      at: timestampOf(event),
    };
    if (ch.queue) leg.queue = ch.queue;
    if (ch.did) leg.did = ch.did;
    if (extra?.cause) leg.cause = extra.cause;
    if (this.keepRaw) leg.raw = event;
    return { kind: 'leg', leg };
  }

  private queueName(raw: string | undefined): string | undefined {
    if (!raw) return undefined;
    if (!this.stripQueueDomain) return raw;
    const at = raw.indexOf('@');
    return at > 0 ? raw.slice(0, at) : raw;
  }

  private remember(ch: Channel): void {
    this.channels.set(ch.uuid, ch);
    if (this.channels.size > this.maxChannels) this.forgetOldest(this.channels, 'forgottenChannels');
  }

  private forget(uuid: string): void {
    this.channels.delete(uuid);
    this.memberQueues.delete(uuid);
  }

  private markEnded(uuid: string): void {
    this.ended.add(uuid);
    if (this.ended.size > this.endedMemory) {
      const first = this.ended.values().next().value;
      if (first !== undefined) this.ended.delete(first);
    }
  }

  private forgetOldest(map: Map<string, unknown>, cause: keyof FreeswitchNormaliserStats): void {
    const first = map.keys().next().value;
    if (first !== undefined) map.delete(first);
    this.stats[cause] += 1;
    if (this.warned.has(cause)) return;
    this.warned.add(cause);
    this.logger.warn(
      { maxChannels: this.maxChannels, cause },
      `FreeSWITCH ${cause === 'forgottenChannels' ? 'channels' : 'callcenter member queues'} at limit, forgetting the oldest (lost hangups?); logged once, counted in stats.${cause}`,
    );
  }
}

function userPart(presence: string | undefined): string | undefined {
  if (!presence) return undefined;
  const at = presence.indexOf('@');
  const user = at >= 0 ? presence.slice(0, at) : presence;
  return user || undefined;
}

/**
 * The caller as FreeSWITCH gave it. A withheld number (`Caller-Privacy-Hide-Number: true`,
 * or the number `anonymous`) is never passed on: `anonymous: true`, number null.
 */
function partyOf(number: string | undefined, name: string | undefined, h: EslHeaders): { party: Party; anonymous: boolean } {
  const hideNumber = headerText(h, 'Caller-Privacy-Hide-Number') === 'true';
  const hideName = headerText(h, 'Caller-Privacy-Hide-Name') === 'true';
  const literal = !!number && number.toLowerCase() === 'anonymous';
  const anonymous = hideNumber || literal;
  return {
    party: { number: anonymous ? null : number || null, name: hideName ? null : name || null },
    anonymous,
  };
}

function destOrNull(dest: string, user: string): string | null {
  return dest && dest !== user ? dest : null;
}

function activeState(callstate: string): ActiveLeg['state'] {
  switch (callstate) {
    case 'RINGING':
    case 'EARLY':
    case 'RING_WAIT':
      return 'ringing';
    case 'ACTIVE':
    case 'HELD':
      return 'up';
    default:
      return 'other';
  }
}

/** `Event-Date-Timestamp` is µs since the epoch; receive time when it is missing. */
/**
 * The rows of `show channels as json`: `{"row_count":0}` when idle (`0 total.` on a very old
 * FreeSWITCH). Anything else that is not a list of rows throws, so the caller keeps its
 * state instead of taking a garbled answer for "no calls" and ending every tracked leg.
 */
function channelRows(answer: string): Array<Record<string, unknown>> {
  if (/^\s*0 total\.?\s*$/.test(answer)) return [];
  let parsed: { rows?: unknown; row_count?: unknown };
  try {
    parsed = JSON.parse(answer) as { rows?: unknown; row_count?: unknown };
  } catch {
    throw new CallpopError('CALLPOP_ESL_COMMAND', `show channels as json gave no JSON (${JSON.stringify(answer.slice(0, 60))})`);
  }
  if (Array.isArray(parsed?.rows)) return parsed.rows.filter((r): r is Record<string, unknown> => r !== null && typeof r === 'object');
  if (parsed?.row_count === 0) return [];
  throw new CallpopError('CALLPOP_ESL_COMMAND', 'show channels as json gave neither rows nor "row_count": 0');
}

/** `blind:1002` (how mod_sofia records a REFER's target and partner) -> `1002`. */
function withoutBlindPrefix(value: string | undefined): string | undefined {
  if (!value?.startsWith('blind:')) return undefined;
  return value.slice('blind:'.length) || undefined;
}

function timestampOf(event: EslEvent): number {
  const raw = headerText(event.headers, 'Event-Date-Timestamp');
  if (raw && /^\d{10,17}$/.test(raw)) return Math.floor(Number(raw) / 1000);
  return Date.now();
}

/** `created_epoch` (seconds) -> ms, if it is a plausible time (not in the future). */
function startedFromEpoch(epoch: string, now: number): { startedAt?: number } {
  const seconds = Number(epoch);
  if (!epoch || !Number.isFinite(seconds) || seconds <= 0 || seconds * 1000 > now + 60_000) return {};
  return { startedAt: seconds * 1000 };
}
