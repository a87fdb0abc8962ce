import type { EslEvent } from '../../src/pbx/freeswitch/esl-codec.js';
import { inboundCall } from '../../src/sim/ami-scenarios.js';
import { AmiSimulator, type ScenarioFrame } from '../../src/sim/ami-simulator.js';
import { agentLeg, ScenarioBuilder, trunkLeg } from '../../src/sim/esl-scenarios.js';
import { EslSimulator } from '../../src/sim/esl-simulator.js';

/**
 * A PBX that outlives callpop: a simulator in the test process plus a model of the calls it
 * carries, so what it answers to the resync (`CoreShowChannels`, `show channels as json`)
 * always matches the events it sent. Events sent while no callpop is connected are lost, as
 * with a real PBX; the resync listing is what the restarted daemon learns them from.
 */

export interface PbxCall {
  /** callpop's callId: the Asterisk Linkedid, the FreeSWITCH trunk leg's UUID. */
  readonly callId: string;
  readonly agent: string;
  readonly caller: { number: string; name: string };
  state: 'ringing' | 'up' | 'gone';
  /** ms since the epoch, as the PBX knows them. */
  readonly startedAt: number;
  answeredAt: number | null;
  endedAt: number | null;
}

export interface RestartPbx {
  readonly name: string;
  /** Listens; resolves with the `pbx[]` entry for this simulator. */
  listen(): Promise<Record<string, unknown>>;
  /** How many resync listings callpop has asked for so far. */
  resyncs(): number;
  /** A callpop is connected, logged in and subscribed to events. */
  connected(): boolean;
  /** The agent's phone starts ringing with a call from `caller`. */
  ring(agent: string, caller: { number: string; name: string }): PbxCall;
  answer(call: PbxCall): void;
  /** The caller hangs up (an unanswered call is abandoned). */
  hangup(call: PbxCall): void;
  close(): Promise<void>;
}

const AMI_USER = 'callpop';
const AMI_SECRET = 'restart-secret';

/** `HH:MM:SS` since `since`, as Asterisk's CoreShowChannel `Duration`. */
function amiDuration(since: number, now: number): string {
  const s = Math.max(0, Math.floor((now - since) / 1000));
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${two(Math.floor(s / 3600))}:${two(Math.floor(s / 60) % 60)}:${two(s % 60)}`;
}

function hex8(n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0');
}

interface AmiCall extends PbxCall {
  seq: number;
  answerFrames: ScenarioFrame[];
  endFrames: ScenarioFrame[];
  abandonFrames: ScenarioFrame[];
}

/** Asterisk through the AMI simulator, calls built with ami-scenarios' `inboundCall`. */
export class AsteriskPbx implements RestartPbx {
  readonly name = 'Asterisk (AMI)';
  readonly sim = new AmiSimulator({ username: AMI_USER, secret: AMI_SECRET });
  private readonly calls: AmiCall[] = [];
  private seq = 0;

  constructor() {
    // Answered from the model when asked, so each channel's Duration is right at that moment.
    this.sim.onAction('CoreShowChannels', (): Record<string, string>[] => {
      const now = Date.now();
      const rows = this.calls.filter((c) => c.state !== 'gone').flatMap((c) => this.channels(c, now));
      return [
        { Response: 'Success', EventList: 'start', Message: 'Channels will follow' },
        ...rows.map((row) => ({ Event: 'CoreShowChannel', ...row })),
        { Event: 'CoreShowChannelsComplete', EventList: 'Complete', ListItems: String(rows.length) },
      ];
    });
  }

  async listen(): Promise<Record<string, unknown>> {
    const port = await this.sim.listen(0, '127.0.0.1');
    return { id: 'pbx-a', type: 'asterisk', host: '127.0.0.1', port, username: AMI_USER, secret: AMI_SECRET };
  }

  resyncs(): number {
    return this.sim.counters.actions['CoreShowChannels'] ?? 0;
  }

  connected(): boolean {
    return this.sim.loggedInClients > 0;
  }

  ring(agent: string, caller: { number: string; name: string }): PbxCall {
    const seq = ++this.seq;
    const base = { callerNumber: caller.number, callerName: caller.name, agent, seq, answerAfterMs: 1_000, talkMs: 1_000 };
    const answered = [...inboundCall({ ...base, answered: true })].sort((a, b) => a.atMs - b.atMs);
    const abandoned = [...inboundCall({ ...base, answered: false })].sort((a, b) => a.atMs - b.atMs);
    const call: AmiCall = {
      callId: `${1_795_371_075 + seq}.0`,
      agent,
      caller,
      state: 'ringing',
      startedAt: Date.now(),
      answeredAt: null,
      endedAt: null,
      seq,
      answerFrames: answered.slice(3, 4),
      endFrames: answered.slice(4),
      abandonFrames: abandoned.slice(3),
    };
    this.calls.push(call);
    this.sim.send(answered.slice(0, 3).map((f) => f.data).join(''));
    return call;
  }

  answer(call: PbxCall): void {
    const c = this.own(call);
    c.state = 'up';
    c.answeredAt = Date.now();
    this.sim.send(c.answerFrames.map((f) => f.data).join(''));
  }

  hangup(call: PbxCall): void {
    const c = this.own(call);
    const frames = c.state === 'up' ? c.endFrames : c.abandonFrames;
    c.state = 'gone';
    c.endedAt = Date.now();
    this.sim.send(frames.map((f) => f.data).join(''));
  }

  close(): Promise<void> {
    return this.sim.close();
  }

  private own(call: PbxCall): AmiCall {
    const c = this.calls.find((x) => x === call);
    if (!c) throw new Error('not a call of this PBX');
    return c;
  }

  /** The trunk and agent channels of a live call, as Asterisk 22's CoreShowChannel lists them. */
  private channels(c: AmiCall, now: number): Record<string, string>[] {
    const epoch = 1_795_371_075 + c.seq;
    const up = c.state === 'up';
    const duration = amiDuration(c.startedAt, now);
    const bridge = up ? `b${hex8(c.seq)}-0000-4000-8000-000000000000` : '';
    return [
      {
        Channel: `PJSIP/trunk-${hex8(c.seq * 2)}`,
        ChannelState: up ? '6' : '4',
        ChannelStateDesc: up ? 'Up' : 'Ring',
        CallerIDNum: c.caller.number,
        CallerIDName: c.caller.name,
        ConnectedLineNum: c.agent,
        ConnectedLineName: `Agent ${c.agent}`,
        Language: 'en',
        AccountCode: '',
        Context: 'from-trunk',
        Exten: c.agent,
        Priority: '3',
        Uniqueid: `${epoch}.0`,
        Linkedid: `${epoch}.0`,
        Application: 'Dial',
        ApplicationData: `PJSIP/${c.agent}`,
        Duration: duration,
        BridgeId: bridge,
      },
      {
        Channel: `PJSIP/${c.agent}-${hex8(c.seq * 2 + 1)}`,
        ChannelState: up ? '6' : '5',
        ChannelStateDesc: up ? 'Up' : 'Ringing',
        CallerIDNum: c.agent,
        CallerIDName: `Agent ${c.agent}`,
        ConnectedLineNum: c.caller.number,
        ConnectedLineName: c.caller.name,
        Language: 'en',
        AccountCode: '',
        Context: 'from-agents',
        Exten: up ? '' : c.agent,
        Priority: '1',
        Uniqueid: `${epoch}.1`,
        Linkedid: `${epoch}.0`,
        Application: 'AppDial',
        ApplicationData: '(Outgoing Line)',
        Duration: duration,
        BridgeId: bridge,
      },
    ];
  }
}

interface EslCall extends PbxCall {
  builder: ScenarioBuilder;
  trunk: string;
  leg: string;
}

/** FreeSWITCH through the ESL simulator: a sofia trunk leg bridged to `user/<agent>` (esl-inbound-call.ts). */
export class FreeswitchPbx implements RestartPbx {
  readonly name: string;
  readonly sim = new EslSimulator({ password: 'ClueCon' });
  private readonly calls: EslCall[] = [];
  private seq = 0;

  constructor(private readonly format: 'json' | 'plain' = 'json') {
    this.name = `FreeSWITCH (ESL, ${format} events)`;
  }

  async listen(): Promise<Record<string, unknown>> {
    const port = await this.sim.listen(0, '127.0.0.1');
    return { id: 'pbx-f', type: 'freeswitch', host: '127.0.0.1', port, password: 'ClueCon', event_format: this.format };
  }

  resyncs(): number {
    return this.sim.commandLog.filter((line) => line.includes('show channels as json')).length;
  }

  connected(): boolean {
    return this.sim.subscribedClients > 0;
  }

  ring(agent: string, caller: { number: string; name: string }): PbxCall {
    const seq = ++this.seq;
    const id = (n: number): string => `e5a7${hex8(seq).slice(4)}-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
    const builder = new ScenarioBuilder();
    const call: EslCall = { callId: id(1), agent, caller, state: 'ringing', startedAt: Date.now(), answeredAt: null, endedAt: null, builder, trunk: id(1), leg: id(2) };
    this.calls.push(call);
    builder.channel(trunkLeg(call.trunk, caller, `+49405555${agent}`));
    builder.emit('CHANNEL_CREATE', call.trunk).emit('CHANNEL_PARK', call.trunk);
    builder.channel(agentLeg(call.leg, agent, call.trunk, caller));
    builder.emit('CHANNEL_CREATE', call.leg).emit('CHANNEL_PROGRESS', call.leg);
    this.flush(call);
    return call;
  }

  answer(call: PbxCall): void {
    const c = this.own(call);
    c.state = 'up';
    c.answeredAt = Date.now();
    c.builder.emit('CHANNEL_ANSWER', c.leg).emit('CHANNEL_ANSWER', c.trunk).bridge(c.trunk, c.leg);
    this.flush(c);
  }

  hangup(call: PbxCall): void {
    const c = this.own(call);
    const cause = c.state === 'up' ? 'NORMAL_CLEARING' : 'ORIGINATOR_CANCEL';
    c.state = 'gone';
    c.endedAt = Date.now();
    c.builder.hangup(c.trunk, cause);
    c.builder.hangup(c.leg, cause);
    this.flush(c);
  }

  close(): Promise<void> {
    return this.sim.close();
  }

  private own(call: PbxCall): EslCall {
    const c = this.calls.find((x) => x === call);
    if (!c) throw new Error('not a call of this PBX');
    return c;
  }

  /** Sends the call's new events stamped with the real time (µs), then updates the listing. */
  private flush(c: EslCall): void {
    const events: EslEvent[] = c.builder.events.splice(0);
    const nowUs = String(Date.now() * 1000);
    this.sim.sendEvents(events.map((e) => ({ ...e, headers: { ...e.headers, 'Event-Date-Timestamp': nowUs } })));
    this.updateListing();
  }

  /** `show channels as json` with the fields of a real FreeSWITCH 1.10+ row that callpop may read. */
  private updateListing(): void {
    const rows = this.calls
      .filter((c) => c.state !== 'gone')
      .flatMap((c) => {
        const created = Math.floor(c.startedAt / 1000);
        return c.builder.showChannels([c.trunk, c.leg]).rows!.map((row) => ({
          ...row,
          created: new Date(created * 1000).toISOString().replace('T', ' ').slice(0, 19),
          created_epoch: String(created),
          callstate: c.state === 'up' ? 'ACTIVE' : row.uuid === c.leg ? 'RINGING' : 'RING_WAIT',
          application: row.uuid === c.trunk ? 'bridge' : '',
          application_data: row.uuid === c.trunk ? `user/${c.agent}@cti.test` : '',
          hostname: 'sim',
        }));
      });
    this.sim.setChannels(rows.length ? { row_count: rows.length, rows } : { row_count: 0 });
  }
}
