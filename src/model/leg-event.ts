import type { CallDirection, Party } from './call-event.js';

/**
 * What a PBX normaliser emits: facts about one agent leg, already in callpop's vocabulary,
 * but not yet deduplicated or turned into call state. The call tracker (src/calls/) turns
 * them into CallEvents. Keeping this seam lets both PBXs share one tracker.
 */
export type LegEventType =
  /** The agent's device started ringing (inbound or transferred call). */
  | 'leg-ringing'
  /** The agent placed a call: their leg is dialling out (or their phone rings for click-to-dial). */
  | 'leg-dialing'
  | 'leg-answered'
  | 'leg-hangup'
  /** The call was handed to another destination; the next ringing leg is a transfer target. */
  | 'call-transfer';

export interface LegEvent {
  type: LegEventType;
  pbxId: string;
  callId: string;
  /** Agent leg id; for `call-transfer` the transferring agent's leg. */
  legId: string;
  /** Device as the PBX names it without the per-call suffix, e.g. `PJSIP/1001`. */
  device: string;
  direction: CallDirection;
  /** External party (for inbound) or the agent (for outbound), as the PBX gave it. */
  caller: Party;
  callee: Party;
  queue?: string;
  did?: string;
  /** The PBX says the presentation is restricted (or the number is literally `anonymous`). */
  anonymous?: boolean;
  cause?: string;
  at: number;
  raw?: unknown;
}

/** A channel the PBX reports as up, used to resync the tracker after a reconnect. */
export interface ActiveLeg {
  pbxId: string;
  callId: string;
  legId: string;
  device: string;
  /** `ringing` or `up` as the PBX reports the leg now. */
  state: 'ringing' | 'up' | 'other';
  caller: Party;
  callee: Party;
  direction: CallDirection;
  /**
   * When the PBX created the leg (ms since the epoch), where it says: AMI `CoreShowChannel`
   * `Duration`, FreeSWITCH `created_epoch`. A call found by a resync starts then, not at the resync.
   */
  startedAt?: number;
}
