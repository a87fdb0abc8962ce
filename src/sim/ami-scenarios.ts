import { randomUUID } from 'node:crypto';
import { encodeMessage } from '../pbx/asterisk/ami-codec.js';
import type { ScenarioFrame } from './ami-simulator.js';

/**
 * Realistic AMI byte streams for the demo and for tests, built on the structure of the
 * real captures in test/fixtures/asterisk/ (01-inbound-answered, 02-inbound-abandoned):
 * same events, same field order, same Privilege lines, a few VarSet noise events,
 * with the caller, the agent and the unique ids substituted. Nothing here is read from
 * the fixtures at runtime, so `callpop demo` works from an installed package.
 */

export interface InboundCallOptions {
  /** Caller number as the trunk presents it; null = withheld (`anonymous`). */
  callerNumber: string | null;
  callerName?: string | null;
  /** Agent extension; the device is `PJSIP/<agent>`. */
  agent: string;
  /** Distinguishes calls: Uniqueids are `<epoch>.<n>` with epoch derived from it, channel suffixes too. */
  seq: number;
  /** How long the agent's phone rings before it is answered (or the caller gives up). */
  answerAfterMs?: number;
  /** Talk time after the answer. */
  talkMs?: number;
  /** False: the caller gives up after `answerAfterMs` (02-inbound-abandoned). */
  answered?: boolean;
  /** The dialled number (DID) on the trunk channel's `Exten`; default the agent. */
  did?: string;
  /** Base epoch for Uniqueids (default 1795371075, the captures' era). */
  epoch?: number;
}

type Chan = {
  Channel: string;
  ChannelState: string;
  ChannelStateDesc: string;
  CallerIDNum: string;
  CallerIDName: string;
  ConnectedLineNum: string;
  ConnectedLineName: string;
  Language: string;
  AccountCode: string;
  Context: string;
  Exten: string;
  Priority: string;
  Uniqueid: string;
  Linkedid: string;
};

const STATES: Record<string, string> = { Down: '0', Ring: '4', Ringing: '5', Up: '6' };

function setState(chan: Chan, desc: 'Down' | 'Ring' | 'Ringing' | 'Up'): void {
  chan.ChannelStateDesc = desc;
  chan.ChannelState = STATES[desc] ?? '0';
}

function event(name: string, privilege: string, ...parts: Readonly<Record<string, string>>[]): string {
  return encodeMessage(Object.assign({ Event: name, Privilege: privilege }, ...parts) as Record<string, string>);
}

function dest(chan: Chan): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(chan)) out[`Dest${key}`] = value;
  return out;
}

function bridge(id: string, technology: string, channels: number): Record<string, string> {
  return {
    BridgeUniqueid: id,
    BridgeType: 'basic',
    BridgeTechnology: technology,
    BridgeCreator: '<unknown>',
    BridgeName: '<unknown>',
    BridgeNumChannels: String(channels),
    BridgeVideoSourceMode: 'none',
  };
}

function hex8(n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0');
}

/**
 * An inbound trunk call to one agent: trunk Newchannel, Dial to PJSIP/<agent>, ringing,
 * then answered + talk + caller hangs up (01), or the caller gives up while it rings (02).
 * Frames carry `atMs` offsets from the start of the call.
 */
export function inboundCall(options: InboundCallOptions): ScenarioFrame[] {
  const ringMs = options.answerAfterMs ?? 2_000;
  const talkMs = options.talkMs ?? 2_000;
  const answered = options.answered ?? true;
  const epoch = (options.epoch ?? 1_795_371_075) + options.seq;
  const number = options.callerNumber ?? 'anonymous';
  const name = options.callerNumber === null ? 'Anonymous' : (options.callerName ?? '<unknown>');
  const did = options.did ?? options.agent;
  const agentName = `Agent ${options.agent}`;
  const trunk: Chan = {
    Channel: `PJSIP/trunk-${hex8(options.seq * 2)}`,
    ChannelState: '4',
    ChannelStateDesc: 'Ring',
    CallerIDNum: number,
    CallerIDName: name,
    ConnectedLineNum: '<unknown>',
    ConnectedLineName: '<unknown>',
    Language: 'en',
    AccountCode: '',
    Context: 'from-trunk',
    Exten: did,
    Priority: '1',
    Uniqueid: `${epoch}.0`,
    Linkedid: `${epoch}.0`,
  };
  const agent: Chan = {
    Channel: `PJSIP/${options.agent}-${hex8(options.seq * 2 + 1)}`,
    ChannelState: '0',
    ChannelStateDesc: 'Down',
    CallerIDNum: options.agent,
    CallerIDName: agentName,
    ConnectedLineNum: '<unknown>',
    ConnectedLineName: '<unknown>',
    Language: 'en',
    AccountCode: '',
    Context: 'from-agents',
    Exten: options.agent,
    Priority: '1',
    Uniqueid: `${epoch}.1`,
    Linkedid: `${epoch}.0`,
  };
  const frames: ScenarioFrame[] = [];
  const at = (atMs: number, ...blocks: string[]): void => {
    frames.push({ atMs, data: blocks.join('') });
  };

  at(
    0,
    event('Newchannel', 'call,all', trunk),
    event('VarSet', 'dialplan,all', trunk, { Variable: 'SIPDOMAIN', Value: '127.0.0.1' }),
    event('Newexten', 'dialplan,all', trunk, {
      Extension: did,
      Application: 'NoOp',
      AppData: `INBOUND from trunk -> agent ${options.agent}`,
    }),
  );
  trunk.Priority = '3';
  const agentCreated = event('Newchannel', 'call,all', agent);
  agent.ConnectedLineNum = number;
  agent.ConnectedLineName = name;
  at(
    20,
    agentCreated,
    event('NewConnectedLine', 'call,all', agent),
    event('DialBegin', 'call,all', trunk, dest(agent), { DialString: options.agent }),
  );
  trunk.ConnectedLineNum = options.agent;
  trunk.ConnectedLineName = agentName;
  setState(agent, 'Ringing');
  at(
    60,
    event('NewConnectedLine', 'call,all', trunk),
    event('Newstate', 'call,all', agent),
    event('DeviceStateChange', 'call,all', { Device: `PJSIP/${options.agent}`, State: 'RINGING' }),
    event('DialState', 'call,all', trunk, dest(agent), { DialStatus: 'RINGING' }),
  );

  if (!answered) {
    const end = 60 + ringMs;
    at(
      end,
      event('HangupRequest', 'call,all', trunk, { Cause: '127' }),
      event('DialEnd', 'call,all', trunk, dest(agent), { DialStatus: 'CANCEL' }),
      event('Hangup', 'call,all', agent, { Cause: '127', 'Cause-txt': 'Interworking, unspecified' }),
      event('DeviceStateChange', 'call,all', { Device: `PJSIP/${options.agent}`, State: 'NOT_INUSE' }),
      event('VarSet', 'dialplan,all', trunk, { Variable: 'DIALSTATUS', Value: 'CANCEL' }),
      event('Hangup', 'call,all', trunk, { Cause: '127', 'Cause-txt': 'Interworking, unspecified' }),
    );
    return frames;
  }

  const answerAt = 60 + ringMs;
  setState(agent, 'Up');
  const agentUp = event('Newstate', 'call,all', agent);
  const dialEnd = event('DialEnd', 'call,all', trunk, dest({ ...agent, Exten: '' }), { DialStatus: 'ANSWER' });
  setState(trunk, 'Up');
  const bridgeId = randomUUID();
  at(
    answerAt,
    agentUp,
    event('DeviceStateChange', 'call,all', { Device: `PJSIP/${options.agent}`, State: 'INUSE' }),
    dialEnd,
    event('Newstate', 'call,all', trunk),
    event('BridgeCreate', 'call,all', bridge(bridgeId, 'simple_bridge', 0)),
    event('BridgeEnter', 'call,all', bridge(bridgeId, 'simple_bridge', 1), { ...agent, Exten: '' }),
    event('BridgeEnter', 'call,all', bridge(bridgeId, 'simple_bridge', 2), trunk),
    event('VarSet', 'dialplan,all', agent, { Variable: 'BRIDGEPEER', Value: trunk.Channel }),
  );
  const endAt = answerAt + talkMs;
  at(
    endAt,
    event('HangupRequest', 'call,all', trunk, { Cause: '16' }),
    event('BridgeLeave', 'call,all', bridge(bridgeId, 'native_rtp', 1), trunk),
    event('SoftHangupRequest', 'call,all', trunk, { Cause: '16' }),
    event('BridgeLeave', 'call,all', bridge(bridgeId, 'native_rtp', 0), { ...agent, Exten: '' }),
    event('Hangup', 'call,all', trunk, { Cause: '16', 'Cause-txt': 'Normal Clearing' }),
    event('Hangup', 'call,all', { ...agent, Exten: '' }, { Cause: '16', 'Cause-txt': 'Normal Clearing' }),
    event('DeviceStateChange', 'call,all', { Device: `PJSIP/${options.agent}`, State: 'NOT_INUSE' }),
    event('BridgeDestroy', 'call,all', bridge(bridgeId, 'native_rtp', 0)),
  );
  return frames;
}

/** An answered inbound call (01-inbound-answered with another caller and agent). */
export function inboundAnsweredCall(options: Omit<InboundCallOptions, 'answered'>): ScenarioFrame[] {
  return inboundCall({ ...options, answered: true });
}

/** A call the caller abandons while the agent's phone rings (02-inbound-abandoned). */
export function inboundAbandonedCall(options: Omit<InboundCallOptions, 'answered' | 'talkMs'>): ScenarioFrame[] {
  return inboundCall({ ...options, answered: false });
}

/** Concatenates a scenario's frames into one byte stream (tests, benchmarks). */
export function scenarioBytes(frames: readonly ScenarioFrame[]): string {
  return [...frames].sort((a, b) => a.atMs - b.atMs).map((f) => f.data).join('');
}
