import { backoffDelay } from '../model/backoff.js';

/**
 * When a PBX link tries again, decided in one place for Asterisk and FreeSWITCH
 * (docs/decisions.md "One reconnect policy for both PBXs").
 *
 * A refused or dropped TCP connection costs the PBX nothing, and the sooner callpop is back
 * the fewer calls ring without a pop, so those are probed at least once a second however
 * long the outage. A refused login or an ACL refusal will not fix itself in a second and
 * every attempt lands in the PBX's security log: only those back off up to `maxMs`.
 */

/** Why a session ended; decides the next delay. */
export type LinkFailureKind =
  /** TCP/TLS connect refused, reset or timed out, or the peer closed before login. */
  | 'connect'
  /** A logged-in session ended (peer closed, keep-alive unanswered, idle). */
  | 'dropped'
  /** The byte stream could not be decoded (the codec threw). */
  | 'protocol'
  /** The PBX refused our credentials or our address (ACL, permissions). */
  | 'auth';

export interface ReconnectSettings {
  /** `reconnect.initial_ms`: first retry after a connection-level failure, doubled per failure. */
  initialMs: number;
  /** `reconnect.max_ms`: cap of the backoff after authentication failures. */
  maxMs: number;
}

/** Longest wait between two connect attempts after connection-level failures. */
export const PROBE_CAP_MS = 1000;
/** Downward jitter shared by every retry: spreads several instances after a PBX restart. */
export const RECONNECT_JITTER = 0.2;

/**
 * Delay (ms) before the next connect attempt. `attempt` counts consecutive failures of the
 * same family (0 for the first): connection-level failures share one count, auth failures
 * have their own, and both reset on a successful login.
 */
export function reconnectDelay(kind: LinkFailureKind, attempt: number, settings: ReconnectSettings, random: () => number = Math.random): number {
  if (kind === 'auth') {
    // Never below the probe interval (an auth retry is never faster than a refused connect),
    // unless the admin capped everything lower.
    const floor = Math.min(PROBE_CAP_MS, settings.maxMs);
    return backoffDelay(attempt, { initialMs: Math.max(settings.initialMs, floor), maxMs: settings.maxMs, jitter: RECONNECT_JITTER }, random);
  }
  // A codec that threw left no state worth waiting for: the adapter's resync on the next
  // connect rebuilds it. Only the first of a series is immediate, so a peer that sends
  // garbage on every connect is still probed at most once per PROBE_CAP_MS.
  if (kind === 'protocol' && attempt === 0) return 0;
  const cap = Math.min(PROBE_CAP_MS, settings.maxMs);
  return backoffDelay(attempt, { initialMs: Math.min(settings.initialMs, cap), maxMs: cap, jitter: RECONNECT_JITTER }, random);
}
