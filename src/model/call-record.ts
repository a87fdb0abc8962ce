import type { CustomerRef } from './customer.js';

/**
 * A finished call, as the call journal produces it, the call log stores it and the
 * write-back outbox hands it to CRM connectors (`Connector.logCall`). It lives in the
 * model because three stages share it; none of them should reach into connectors for it.
 */
export interface CallRecord {
  /** Stable for the whole call across legs (Asterisk `Linkedid`, FreeSWITCH the first leg's UUID). */
  callId: string;
  /** The `pbx[].id` the call came from. */
  pbxId: string;
  direction: 'inbound' | 'outbound' | 'internal';
  /** The other party's number as the PBX gave it (untrusted text), or null when withheld. */
  number: string | null;
  /** The other party's name as the PBX gave it (untrusted text). */
  name: string | null;
  /** The extension of the agent who answered (or was rung last), if any. */
  agent: string | null;
  queue: string | null;
  /** ms since the epoch */
  startedAt: number;
  /** ms since the epoch; null when nobody answered. */
  answeredAt: number | null;
  /** ms since the epoch */
  endedAt: number;
  /**
   * `unknown`: the call ended unseen before anyone answered it as far as callpop knows (it
   * rang while callpop was down or disconnected from the PBX, see `endEstimated`): answered
   * or not, nobody can tell. Calls callpop stopped following to protect itself (its bounds)
   * are also `unknown`, and those stay in callpop's call log without being written back.
   */
  outcome: 'answered' | 'missed' | 'abandoned' | 'transferred' | 'voicemail' | 'unknown';
  /** True when the PBX never reported the end: `endedAt` is the best time callpop knows. */
  endEstimated?: boolean;
  /** The customer the lookup found, by source name and CRM id, or null when none was found. */
  customer: CustomerRef | null;

  // The fields below complete the record (issues 14 and 18). They are optional so that records
  // stored by earlier versions still read; new records fill every one they can.

  /** `number` in E.164 when it could be parsed with the lookup's default country, else null. */
  numberE164?: string | null;
  /** Every agent extension that rang for this call, in the order each first rang. */
  agentsRung?: string[];
  /** Every agent who answered (handled) the call, in order; a transfer appends the target. */
  agentsHandled?: string[];
  /** ms since the epoch of the first agent ring, or null when no agent rang. */
  firstRingAt?: number | null;
  /** Seconds from start to the first answer (or to the end when nobody answered). */
  waitSeconds?: number | null;
  /** Seconds from the first answer to the end, or null when nobody answered. */
  talkSeconds?: number | null;
  /** ms from the PBX event that made the first pop to the pop's delivery, or null without a pop. */
  popLatencyMs?: number | null;
  /** The wrap-up the agent sent from the page (issue 17), if any. */
  wrapup?: Wrapup | null;
  /**
   * For a consultation call (an agent calling a colleague while a customer waits): the
   * customer call it belongs to. Consultations are `internal` records linked this way.
   */
  relatedCallId?: string | null;
}

/** What an agent records about a call after it (disposition from a configured list, free note). */
export interface Wrapup {
  /** One of the configured dispositions, or null when the agent only wrote a note. */
  disposition: string | null;
  /** Free text typed by the agent (untrusted, bounded in length). */
  note: string | null;
  /** The extension of the agent who sent it. */
  agent: string;
  /** ms since the epoch when the daemon received it. */
  at: number;
}
