/**
 * The one backoff formula of callpop: the PBX links and the write-back outbox retry with it
 * (STYLE.md "one shared mechanism"). Pure: attempt in, delay out; the caller owns the timer.
 */

export interface BackoffPolicy {
  /** Delay of attempt 0 (ms); doubled per attempt. */
  initialMs: number;
  /** Cap (ms). Never exceeded, jitter included: a cap is a promise to the admin. */
  maxMs: number;
  /**
   * Fraction taken off at random (0.2: the delay lands in [0.8, 1] x the base). Downward only,
   * so the cap holds; the spread still keeps several instances from reconnecting in lockstep
   * after a PBX restart.
   */
  jitter: number;
}

/** Doubling stops mattering long before 2^30; bounding the exponent keeps the float finite. */
const MAX_EXPONENT = 30;

/**
 * Delay before retry number `attempt` (0-based): `min(maxMs, initialMs * 2^attempt)`, less up
 * to `jitter` of it, at least 1 ms. `random` is injectable so tests can pin the jitter.
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const exponent = Math.min(Math.max(0, Math.floor(attempt)), MAX_EXPONENT);
  const base = Math.min(policy.maxMs, policy.initialMs * 2 ** exponent);
  const jitter = Math.min(1, Math.max(0, policy.jitter));
  return Math.max(1, Math.round(base * (1 - jitter * random())));
}
