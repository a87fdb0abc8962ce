export interface HelloThrottleLimits {
  /** Failed hellos (unknown token) from one address within `windowMs` that start a block. */
  maxFailures: number;
  windowMs: number;
  /** How long every hello from a blocked address is refused. */
  blockMs: number;
  /** Addresses remembered at most; past it the oldest are forgotten (an IPv6 sweep must not grow memory). */
  maxAddresses?: number;
}

interface Entry {
  failures: number;
  windowStart: number;
  blockedUntil: number;
}

/**
 * Slows token guessing: after `maxFailures` unknown tokens from one remote address within
 * `windowMs`, hellos from it are refused for `blockMs`. Tokens are compared as SHA-256 digests
 * in constant time (token-auth.ts), so guessing is the only attack left; this caps its rate.
 * Pure: the caller passes the time.
 */
export class HelloThrottle {
  private readonly entries = new Map<string, Entry>();
  private readonly maxAddresses: number;

  constructor(private readonly limits: HelloThrottleLimits) {
    this.maxAddresses = limits.maxAddresses ?? 10_000;
  }

  get trackedAddresses(): number {
    return this.entries.size;
  }

  blocked(address: string, now: number): boolean {
    return (this.entries.get(address)?.blockedUntil ?? 0) > now;
  }

  /** Records a failed hello; true when this failure starts a block (the moment to log it, once). */
  fail(address: string, now: number): boolean {
    let entry = this.entries.get(address);
    if (!entry || now - entry.windowStart >= this.limits.windowMs) {
      entry = { failures: 0, windowStart: now, blockedUntil: entry?.blockedUntil ?? 0 };
      this.entries.delete(address); // re-inserted below: insertion order stays "least recently failed first"
      this.entries.set(address, entry);
      this.prune(now);
    }
    entry.failures += 1;
    if (entry.failures < this.limits.maxFailures || entry.blockedUntil > now) return false;
    entry.blockedUntil = now + this.limits.blockMs;
    return true;
  }

  private prune(now: number): void {
    if (this.entries.size <= this.maxAddresses) return;
    for (const [address, entry] of this.entries) {
      if (this.entries.size <= this.maxAddresses) return;
      const stale = now - entry.windowStart >= this.limits.windowMs && entry.blockedUntil <= now;
      if (stale) this.entries.delete(address);
    }
    // Still too many live entries: forget the oldest, losing at worst one window of counting.
    for (const address of this.entries.keys()) {
      if (this.entries.size <= this.maxAddresses) return;
      this.entries.delete(address);
    }
  }
}
