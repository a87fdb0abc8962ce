import type { Connector, LookupQuery } from '../connectors/contract.js';
import type { CustomerMatch, CustomerRecord, LookupResult } from '../model/customer.js';
import { CallpopError, describeError, isCallpopError } from '../model/errors.js';
import type { Logger } from '../model/logger.js';
import { CircuitBreaker } from './circuit-breaker.js';
import { LookupCache } from './lookup-cache.js';
import type { LookupConfig, LookupSourceConfig } from './lookup-config.js';
import type { LookupOptions, LookupService } from './lookup-api.js';
import { MAX_NUMBER_CHARS, numberCandidates } from './number-candidates.js';

/**
 * Number -> customers (docs/lookup.md): candidates -> cache -> sources (`first` or `merge`,
 * each with a timeout and a breaker) -> enrichment -> merged result, within the pop deadline.
 * Concurrent lookups of one number share one "flight", so each source is asked once.
 */

interface Source {
  name: string;
  priority: number;
  connector: Connector;
  timeoutMs: number;
  enrichBy?: string;
  breaker: CircuitBreaker;
}

type SourceError = LookupResult['errors'][number];
type SourceOutcome = { matches: CustomerMatch[] } | { error: SourceError };

/** Longest message kept from a connector error (external connectors may say a lot). */
const MAX_ERROR_MESSAGE = 300;

export function createLookupService(
  config: LookupConfig,
  connectors: ReadonlyMap<string, Connector>,
  ctx: { logger: Logger },
): LookupService {
  const log = ctx.logger.child({ component: 'lookup' });
  const sources = buildSources(config, connectors);
  const phoneSources = sources.filter((s) => s.enrichBy === undefined);
  const enrichSources = sources.filter((s) => s.enrichBy !== undefined);
  const cache = config.cache.enabled
    ? new LookupCache({
        ttlS: config.cache.ttl_s,
        negativeTtlS: config.cache.negative_ttl_s,
        maxStaleS: config.cache.max_stale_s,
        maxEntries: config.cache.max_entries,
      })
    : undefined;
  const flights = new Map<string, Flight>();
  /** Aborted on close(): every source call listens to it. */
  const shutdown = new AbortController();
  let closed = false;

  const callSource = async (source: Source, query: LookupQuery): Promise<SourceOutcome> => {
    if (!source.breaker.tryAcquire()) {
      return {
        error: {
          source: source.name,
          code: 'CALLPOP_BREAKER_OPEN',
          message: `source '${source.name}' is skipped after repeated failures; it is retried after its cool-down`,
        },
      };
    }
    const timeout = new AbortController();
    const timer = setTimeout(() => {
      timeout.abort(new CallpopError('CALLPOP_LOOKUP_TIMEOUT', `source '${source.name}' did not answer within ${source.timeoutMs} ms`));
    }, source.timeoutMs);
    const signal = AbortSignal.any([timeout.signal, shutdown.signal]);
    try {
      // Raced against the signal too: a connector that ignores its signal must not hold the pop.
      const answer = await raceSignal(source.connector.lookup(query, signal), signal);
      const matches = checkMatches(answer, source, log);
      source.breaker.success();
      return { matches };
    } catch (err) {
      source.breaker.failure();
      const reason = signal.aborted ? signal.reason : err;
      const code = isCallpopError(reason) ? reason.code : 'CALLPOP_LOOKUP_FAILED';
      const message = truncate(describeError(reason), MAX_ERROR_MESSAGE);
      log.warn({ source: source.name, code, err: message, breaker: source.breaker.state }, 'lookup source failed');
      return { error: { source: source.name, code, message } };
    } finally {
      clearTimeout(timer);
    }
  };

  const runFlight = async (flight: Flight): Promise<void> => {
    if (config.strategy === 'first') {
      for (const source of phoneSources) {
        if (shutdown.signal.aborted) break;
        const outcome = await callSource(source, flight.query);
        flight.record(source, outcome);
        if ('matches' in outcome && outcome.matches.length > 0) break;
      }
    } else {
      await Promise.all(phoneSources.map(async (s) => flight.record(s, await callSource(s, flight.query))));
    }
    const known = flight.build(false).matches[0]?.record;
    if (known && enrichSources.length > 0 && !shutdown.signal.aborted) {
      await Promise.all(
        enrichSources
          .filter((s) => isKnownValue(known[s.enrichBy!]))
          .map(async (s) => flight.record(s, await callSource(s, { ...flight.query, known }))),
      );
    }
  };

  const startFlight = (key: string | undefined, query: LookupQuery): Flight => {
    const flight = new Flight(query, sources.length);
    if (key !== undefined) flights.set(key, flight);
    flight.done = runFlight(flight)
      .catch((err: unknown) => log.error({ err: describeError(err) }, 'lookup failed unexpectedly'))
      .then(() => {
        const result = deepFreeze(flight.build(false));
        if (key !== undefined) {
          if (flights.get(key) === flight) flights.delete(key);
          // Errors are never cached as "not found": a failed source may know the caller.
          if (cache && flight.cacheable && !closed && result.errors.length === 0) cache.set(key, result);
        }
        return result;
      });
    return flight;
  };

  const prepare = (number: string): { key: string | undefined; query: LookupQuery } => {
    const { candidates, lastDigits } = numberCandidates(number, {
      defaultRegion: config.default_region,
      lastDigits: config.match_last_digits,
    });
    const query: LookupQuery = { number, candidates };
    if (lastDigits !== undefined) query.lastDigits = lastDigits;
    return { key: cacheKey(number, candidates), query };
  };

  /** The cached result, or the shared flight for this number (started if none is running). */
  const resolve = (number: string): { cached: LookupResult } | { flight: Flight } => {
    const { key, query } = prepare(number);
    const hit = key !== undefined ? cache?.get(key) : undefined;
    if (hit) {
      if (!hit.fresh && key !== undefined && !flights.has(key)) startFlight(key, query); // stale-while-revalidate
      return { cached: hit.result };
    }
    const running = key !== undefined ? flights.get(key) : undefined;
    return { flight: running ?? startFlight(key, query) };
  };

  return {
    async lookup(number: string, options: LookupOptions = {}): Promise<LookupResult> {
      if (closed) throw new CallpopError('CALLPOP_LOOKUP_FAILED', 'the lookup service is closed');
      if (options.signal?.aborted) throw options.signal.reason;
      const raw = typeof number === 'string' ? number : '';
      const found = resolve(raw);
      if ('cached' in found) return { ...found.cached, number: raw };
      const { flight } = found;

      return new Promise<LookupResult>((resolvePop, rejectPop) => {
        let settled = false;
        const finish = (): void => {
          settled = true;
          clearTimeout(deadline);
          options.signal?.removeEventListener('abort', onAbort);
        };
        const onAbort = (): void => {
          if (settled) return;
          finish();
          rejectPop(options.signal?.reason);
        };
        const deadline = setTimeout(() => {
          if (settled) return;
          finish();
          resolvePop({ ...flight.build(true), number: raw });
          // The pop went out incomplete: the full result follows exactly once.
          void flight.done.then((result) => {
            try {
              options.onUpdate?.({ ...result, number: raw });
            } catch (err) {
              log.warn({ err: describeError(err) }, 'lookup onUpdate callback threw');
            }
          });
        }, config.pop_deadline_ms);
        options.signal?.addEventListener('abort', onAbort, { once: true });
        void flight.done.then((result) => {
          if (settled) return;
          finish();
          resolvePop({ ...result, number: raw });
        });
      });
    },

    prefetch(number: string): void {
      if (closed || typeof number !== 'string') return;
      resolve(number);
    },

    invalidate(number?: string): void {
      if (number === undefined) {
        cache?.clear();
        for (const flight of flights.values()) flight.cacheable = false;
        flights.clear();
        return;
      }
      const { key } = prepare(number);
      if (key === undefined) return;
      cache?.delete(key);
      const flight = flights.get(key);
      if (flight) {
        // Its answer may predate the change that caused the invalidation.
        flight.cacheable = false;
        flights.delete(key);
      }
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      shutdown.abort(new CallpopError('CALLPOP_LOOKUP_FAILED', 'the lookup service is closing'));
      await Promise.all([...flights.values()].map((f) => f.done));
      flights.clear();
      cache?.close();
    },
  };
}

/** One running lookup of one number, shared by every caller that asks for it meanwhile. */
class Flight {
  done!: Promise<LookupResult>;
  /** False once invalidated while running. */
  cacheable = true;
  private readonly outcomes: (SourceOutcome | undefined)[];

  constructor(
    readonly query: LookupQuery,
    sourceCount: number,
  ) {
    this.outcomes = new Array<SourceOutcome | undefined>(sourceCount).fill(undefined);
  }

  record(source: Source, outcome: SourceOutcome): void {
    this.outcomes[source.priority] = outcome;
  }

  /**
   * The result from what has answered so far. Matches are in source priority order; the first
   * match carries the merged record: its own fields, then, for fields it lacks, those of each
   * other source's first match by priority (merge mode and enrichment).
   */
  build(pending: boolean): LookupResult {
    const matches: CustomerMatch[] = [];
    const errors: SourceError[] = [];
    const firsts: CustomerRecord[] = [];
    for (const outcome of this.outcomes) {
      if (!outcome) continue;
      if ('error' in outcome) errors.push(outcome.error);
      else {
        matches.push(...outcome.matches);
        if (outcome.matches[0]) firsts.push(outcome.matches[0].record);
      }
    }
    const top = matches[0];
    if (top && firsts.length > 1) {
      const merged: CustomerRecord = {};
      for (const record of firsts) {
        for (const [field, value] of Object.entries(record)) {
          if (!isKnownValue(merged[field]) && value !== undefined) merged[field] = value;
        }
      }
      matches[0] = { ...top, record: merged };
    }
    return { number: this.query.number, candidates: [...this.query.candidates], matches, errors, pending };
  }
}

function buildSources(config: LookupConfig, connectors: ReadonlyMap<string, Connector>): Source[] {
  const declared: readonly LookupSourceConfig[] =
    config.sources.length > 0 ? config.sources : [...connectors.keys()].map((connector) => ({ connector }));
  const seen = new Set<string>();
  return declared.map((s, priority) => {
    const connector = connectors.get(s.connector);
    if (!connector) {
      throw new CallpopError(
        'CALLPOP_CONFIG_INVALID',
        `lookup.sources[${priority}].connector: no connector named '${s.connector}' (known: ${[...connectors.keys()].join(', ') || 'none'})`,
      );
    }
    if (seen.has(s.connector)) {
      throw new CallpopError('CALLPOP_CONFIG_INVALID', `lookup.sources[${priority}].connector: '${s.connector}' is listed twice`);
    }
    seen.add(s.connector);
    const source: Source = {
      name: s.connector,
      priority,
      connector,
      timeoutMs: s.timeout_ms ?? config.source_timeout_ms,
      breaker: new CircuitBreaker(
        s.breaker?.failure_threshold ?? config.breaker.failure_threshold,
        s.breaker?.cooldown_ms ?? config.breaker.cooldown_ms,
      ),
    };
    if (s.enrich_by !== undefined) source.enrichBy = s.enrich_by;
    return source;
  });
}

/**
 * The cache/coalescing key: the E.164 form when there is one, so `0049 30 123456` and
 * `+49 (30) 123456` share an entry. Input with no candidates is keyed by its raw text when
 * short enough; over-long input is neither cached nor coalesced.
 */
function cacheKey(number: string, candidates: string[]): string | undefined {
  if (candidates[0] !== undefined) return `n:${candidates[0]}`;
  return number.length <= MAX_NUMBER_CHARS ? `raw:${number}` : undefined;
}

/** A connector's answer, checked: an array of matches with a record each; bad items dropped. */
function checkMatches(answer: unknown, source: Source, log: Logger): CustomerMatch[] {
  if (!Array.isArray(answer)) {
    throw new CallpopError('CALLPOP_LOOKUP_FAILED', `source '${source.name}' returned a malformed answer (expected an array of matches)`);
  }
  const matches: CustomerMatch[] = [];
  for (const item of answer as unknown[]) {
    const m = item as Partial<CustomerMatch> | null;
    if (!m || typeof m !== 'object' || !m.record || typeof m.record !== 'object' || Array.isArray(m.record)) {
      log.warn({ source: source.name }, 'malformed match skipped: no record object');
      continue;
    }
    const match: CustomerMatch = { source: source.name, record: m.record };
    if (typeof m.id === 'string') match.id = m.id;
    matches.push(match);
  }
  return matches;
}

function raceSignal<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) {
      work.catch(() => {});
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      work.catch(() => {});
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

function isKnownValue(value: unknown): boolean {
  return value !== undefined && value !== null && value !== '';
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
