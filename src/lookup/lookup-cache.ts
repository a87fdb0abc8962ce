import NodeCache from 'node-cache';
import type { LookupResult } from '../model/customer.js';

export interface LookupCacheOptions {
  ttlS: number;
  negativeTtlS: number;
  /** How long past `ttlS` a found customer may still be served while it is refreshed. */
  maxStaleS: number;
  maxEntries: number;
}

export interface CachedLookup {
  result: LookupResult;
  /** False once past the TTL: serve it, but refresh in the background. */
  fresh: boolean;
}

interface Entry {
  result: LookupResult;
  freshUntil: number;
}

/**
 * In-process cache of complete lookup results, keyed by the number's E.164 form so every
 * spelling of one number shares an entry. node-cache expires entries; this class adds
 * stale-while-revalidate (positive entries live `ttl + max_stale`) and a bound on entries
 * (oldest inserted is evicted first: node-cache's own `maxKeys` would refuse new entries).
 */
export class LookupCache {
  private readonly cache: NodeCache;
  /** Insertion order, for eviction; a Set iterates in insertion order. */
  private readonly order = new Set<string>();

  constructor(
    private readonly opts: LookupCacheOptions,
    private readonly now: () => number = Date.now,
  ) {
    // useClones: false because results are frozen; cloning would cost more than the lookup.
    this.cache = new NodeCache({ useClones: false, checkperiod: 60, deleteOnExpire: true });
    this.cache.on('del', (key: string) => this.order.delete(key));
    this.cache.on('flush', () => this.order.clear());
  }

  get(key: string): CachedLookup | undefined {
    const entry = this.cache.get<Entry>(key);
    if (!entry) return undefined;
    return { result: entry.result, fresh: this.now() < entry.freshUntil };
  }

  /** Stores a complete result: found customers for the TTL, misses for the shorter negative TTL. */
  set(key: string, result: LookupResult): void {
    const found = result.matches.length > 0;
    const ttlS = found ? this.opts.ttlS : this.opts.negativeTtlS;
    const lifeS = found ? ttlS + this.opts.maxStaleS : ttlS;
    if (!this.cache.has(key)) {
      while (this.order.size >= this.opts.maxEntries) {
        const oldest = this.order.values().next().value;
        if (oldest === undefined) break;
        this.cache.del(oldest);
        this.order.delete(oldest);
      }
    } else {
      this.order.delete(key);
    }
    this.cache.set<Entry>(key, { result, freshUntil: this.now() + ttlS * 1000 }, lifeS);
    this.order.add(key);
  }

  delete(key: string): void {
    this.cache.del(key);
  }

  clear(): void {
    this.cache.flushAll();
  }

  get size(): number {
    return this.order.size;
  }

  close(): void {
    this.cache.flushAll();
    this.cache.close();
  }
}
