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
  outcome: 'answered' | 'missed' | 'abandoned' | 'unknown';
  /** True when the PBX never reported the end: `endedAt` is the best time callpop knows. */
  endEstimated?: boolean;
  /** The customer the lookup found, by source name and CRM id, or null when none was found. */
  customer: CustomerRef | null;
}
