import type { LookupResult } from '../model/customer.js';

export interface LookupOptions {
  signal?: AbortSignal;
  /**
   * Called once with the complete result when the pop deadline passed before every source
   * answered (the first result then had `pending: true`).
   */
  onUpdate?: (result: LookupResult) => void;
}

/** Number -> customers: normalisation, cache, sources, merge, deadline. */
export interface LookupService {
  lookup(number: string, options?: LookupOptions): Promise<LookupResult>;
  /** Starts a lookup early (trunk channel seen, no agent ringing yet); result lands in cache. */
  prefetch(number: string): void;
  /** Drops cached results for one number (all its candidates), or everything. */
  invalidate(number?: string): void;
  close(): Promise<void>;
}
