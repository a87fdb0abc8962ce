/**
 * The normalised call model (DESIGN.md "The normalised call model"). Every PBX adapter
 * produces these; nothing downstream knows which PBX an event came from.
 */

/** A party as the PBX gave it. Both fields are untrusted text (SIP From header). */
export interface Party {
  number: string | null;
  name: string | null;
}

/** The agent a pop is for: the extension (what clients subscribe to) and the device ringing. */
export interface AgentRef {
  extension: string;
  device: string;
}

export type CallEventKind = 'ringing' | 'answered' | 'ended' | 'transferred' | 'dialing' | 'missed';

export type CallDirection = 'inbound' | 'outbound' | 'internal';

export interface CallEvent {
  kind: CallEventKind;
  /** Stable for the whole call across legs: Asterisk Linkedid, FreeSWITCH originating leg UUID. */
  callId: string;
  /** The agent leg this event is about (Asterisk Uniqueid, FreeSWITCH Unique-ID). */
  legId: string;
  pbxId: string;
  direction: CallDirection;
  /** For inbound calls the external party; for outbound (`dialing`) the agent. */
  caller: Party;
  /** For inbound calls the agent; for outbound the dialled party. */
  callee: Party;
  agent: AgentRef;
  queue?: string;
  /** The number the caller dialled (DID), when the PBX tells it. */
  did?: string;
  /**
   * True when the caller withheld their number (or the PBX says `anonymous`): the pop is
   * shown without a CRM lookup.
   */
  anonymous: boolean;
  /** For `transferred`/`ringing` after a transfer: the extension that handed the call over. */
  transferredFrom?: string;
  /** For `ended`/`missed`: why the leg ended, as the PBX said it (e.g. "16 Normal Clearing"). */
  cause?: string;
  /**
   * For `ended`/`missed`: the PBX did not report this end; callpop closed the leg itself (the
   * tracker's bound, a leg past its maximum age, a leg gone after a reconnect), so `at` is the
   * best time known, not the true end.
   */
  estimatedEnd?: boolean;
  /** With `estimatedEnd`: callpop closed the leg to protect itself (its bound, the maximum age), not because the PBX lost it. */
  lostTrack?: boolean;
  /** PBX timestamp in ms since the epoch (receive time where the PBX sends none). */
  at: number;
  /** The raw PBX event, for debugging only. Never sent to agents. */
  raw?: unknown;
}
