import type { Connector } from '../connectors/contract.js';
import { backoffDelay } from '../model/backoff.js';
import { describeError } from '../model/errors.js';
import type { Lifecycle } from '../model/lifecycle.js';
import { untilDeadline } from '../model/lifecycle.js';
import type { Logger } from '../model/logger.js';
import type { CallStore } from './call-store.js';

export interface WritebackOptions {
  store: CallStore;
  /** The live connectors (a getter: a config reload swaps them). */
  connectors: () => ReadonlyMap<string, Connector>;
  logger: Logger;
  retryInitialMs: number;
  retryMaxMs: number;
  timeoutMs: number;
  /** How often the outbox is polled. */
  intervalMs?: number;
}

/** Spreads the retries of records that failed together (a CRM outage) so they do not return as one burst. */
const RETRY_JITTER = 0.2;

/**
 * Delivers the outbox to CRM connectors' `logCall`, one item at a time per tick, retrying
 * with the shared capped exponential backoff (src/model/backoff.ts). A CRM outage only delays records; it never drops them.
 */
export class WritebackWorker implements Lifecycle {
  readonly name = 'writeback';
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;
  private readonly controller = new AbortController();

  constructor(private readonly options: WritebackOptions) {}

  async start(): Promise<void> {
    this.stopped = false;
    this.schedule(0);
  }

  /** Delivers whatever is due now (also used by tests instead of waiting for the timer). */
  async drain(now = Date.now()): Promise<number> {
    let delivered = 0;
    for (const item of this.options.store.due(now)) {
      if (this.stopped) break;
      const connector = this.options.connectors().get(item.connector);
      if (!connector?.logCall) {
        this.options.store.failed(item.id, `connector ${item.connector} has no logCall`, now + this.options.retryMaxMs);
        continue;
      }
      const signal = AbortSignal.any([this.controller.signal, AbortSignal.timeout(this.options.timeoutMs)]);
      try {
        await connector.logCall(item.record, signal);
        this.options.store.delivered(item.id);
        delivered += 1;
      } catch (err) {
        const delay = backoffDelay(item.attempts, { initialMs: this.options.retryInitialMs, maxMs: this.options.retryMaxMs, jitter: RETRY_JITTER });
        this.options.store.failed(item.id, describeError(err), Date.now() + delay);
        this.options.logger.warn(
          { connector: item.connector, callId: item.record.callId, attempt: item.attempts + 1, retryInMs: delay, err: describeError(err) },
          'call write-back failed, will retry',
        );
      }
    }
    return delivered;
  }

  /** Aborts the delivery in flight (it is retried after the next start) and waits for it to settle. */
  async stop(deadline = Date.now() + 5000): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.controller.abort();
    if (this.running) await untilDeadline(this.running, deadline);
  }

  private schedule(delay: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.drain()
        .then(() => undefined)
        .catch((err: unknown) => this.options.logger.error({ err: describeError(err) }, 'write-back worker failed'))
        .finally(() => {
          this.running = null;
          this.schedule(this.options.intervalMs ?? 1000);
        });
    }, delay);
    this.timer.unref();
  }
}
