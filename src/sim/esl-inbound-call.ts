import type { EslEvent } from '../pbx/freeswitch/esl-codec.js';
import { agentLeg, ScenarioBuilder, trunkLeg } from './esl-scenarios.js';

/** A group of events FreeSWITCH sends together, `atMs` after the call starts. */
export interface EslScenarioPhase {
  atMs: number;
  events: EslEvent[];
}

export interface EslInboundCallOptions {
  /** null: a withheld number (privacy flags set, number `anonymous`). */
  callerNumber: string | null;
  callerName?: string | null;
  agent: string;
  /** Makes the call's UUIDs unique when the same call is played again. */
  seq: number;
  answered?: boolean;
  answerAfterMs?: number;
  talkMs?: number;
  did?: string;
}

/**
 * The FreeSWITCH counterpart of ami-scenarios' `inboundCall`: a SIP trunk call bridged to
 * `user/<agent>` (a sofia phone leg), which rings, then is answered and talks until the caller
 * hangs up, or is given up by the caller while it rings (ORIGINATOR_CANCEL). Events carry the
 * headers of the real captures (see esl-scenarios.ts); play them with `EslSimulator.playScenario`.
 */
export function eslInboundCall(options: EslInboundCallOptions): EslScenarioPhase[] {
  const ringMs = options.answerAfterMs ?? 2_000;
  const talkMs = options.talkMs ?? 2_000;
  const answered = options.answered ?? true;
  const withheld = options.callerNumber === null;
  const caller = { number: options.callerNumber ?? 'anonymous', name: withheld ? 'Anonymous' : (options.callerName ?? options.callerNumber ?? '') };
  const id = (n: number): string => `d3e0${hex4(options.seq)}-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
  const trunk = id(1);
  const leg = id(2);
  const b = new ScenarioBuilder();
  const phases: EslScenarioPhase[] = [];
  const phase = (atMs: number, build: () => void): void => {
    const from = b.events.length;
    build();
    phases.push({ atMs, events: b.events.slice(from) });
  };
  phase(0, () => {
    b.channel(trunkLeg(trunk, caller, options.did ?? `+49405555${options.agent}`, withheld));
    b.emit('CHANNEL_CREATE', trunk).emit('CHANNEL_PARK', trunk);
    b.channel(agentLeg(leg, options.agent, trunk, caller, {}, withheld));
    b.emit('CHANNEL_CREATE', leg).emit('CHANNEL_PROGRESS', leg);
  });
  if (answered) {
    phase(ringMs, () => {
      b.emit('CHANNEL_ANSWER', leg).emit('CHANNEL_ANSWER', trunk).bridge(trunk, leg);
    });
    phase(ringMs + talkMs, () => {
      b.hangup(trunk);
      b.hangup(leg);
    });
  } else {
    phase(ringMs, () => {
      b.hangup(trunk, 'ORIGINATOR_CANCEL');
      b.hangup(leg, 'ORIGINATOR_CANCEL');
    });
  }
  return phases;
}

function hex4(n: number): string {
  return (n & 0xffff).toString(16).padStart(4, '0');
}
