import type { CallRecord } from '../model/call-record.js';
import type { CallEvent } from '../model/call-event.js';
import type { CustomerRef } from '../model/customer.js';
import type { Lifecycle } from '../model/lifecycle.js';

/**
 * Follows each call across its agent legs and produces one CallRecord when the call is
 * over: its last agent leg ended and no transfer target is expected. The pop stage tells it
 * which customer the call is about (`identified`); a call whose lookup is still running when
 * it ends waits for it, within a bound.
 */
interface JournalEntry {
  callId: string;
  pbxId: string;
  direction: CallEvent['direction'];
  number: string | null;
  name: string | null;
  queue: string | null;
  startedAt: number;
  answeredAt: number | null;
  answeredBy: string | null;
  lastAgent: string | null;
  liveLegs: Set<string>;
  transferPending: boolean;
  /** The last leg's end was not reported by the PBX (evicted, swept, gone after a reconnect). */
  endEstimated: boolean;
  customer: CustomerRef | null;
  /** A lookup for the call is running: the record waits for its customer. */
  awaitingCustomer: boolean;
  /** The call is over (at this time) and waits only for its customer. */
  endedAt?: number;
  finishTimer?: NodeJS.Timeout;
}

export interface CallJournalOptions {
  /** Grace after the last leg ends before the call is closed (a transfer target may still ring). */
  graceMs?: number;
  /** Bound on calls followed at once; past it the oldest is closed. */
  maxCalls?: number;
  /** How long an ended call waits for a running lookup's customer before it is logged without. */
  customerWaitMs?: number;
  onFinished(record: CallRecord): void;
}

export class CallJournal implements Lifecycle {
  readonly name = 'journal';
  private readonly entries = new Map<string, JournalEntry>();
  private readonly graceMs: number;
  private readonly maxCalls: number;
  private readonly customerWaitMs: number;

  constructor(private readonly options: CallJournalOptions) {
    this.graceMs = options.graceMs ?? 3000;
    this.maxCalls = options.maxCalls ?? 50_000;
    this.customerWaitMs = options.customerWaitMs ?? 30_000;
  }

  /** A lookup for this call started: its record waits for the customer. */
  lookupStarted(pbxId: string, callId: string): void {
    const entry = this.entries.get(key(pbxId, callId));
    if (entry && !entry.customer) entry.awaitingCustomer = true;
  }

  /** The customer the call is about (again after an agent picked another on a shared line). */
  identified(pbxId: string, callId: string, customer: CustomerRef | null): void {
    const entry = this.entries.get(key(pbxId, callId));
    if (!entry) return;
    entry.customer = customer;
    entry.awaitingCustomer = false;
    if (entry.endedAt !== undefined) this.finish(entry, entry.endedAt);
  }

  record(event: CallEvent): void {
    const k = key(event.pbxId, event.callId);
    let entry = this.entries.get(k);
    if (!entry) {
      if (event.kind !== 'ringing' && event.kind !== 'dialing') return;
      if (this.entries.size >= this.maxCalls) this.finishOldest();
      const party = event.kind === 'dialing' ? event.callee : event.caller;
      entry = {
        callId: event.callId,
        pbxId: event.pbxId,
        direction: event.direction,
        number: event.anonymous ? null : party.number,
        name: event.anonymous ? null : party.name,
        queue: event.queue ?? null,
        startedAt: event.at,
        answeredAt: null,
        answeredBy: null,
        lastAgent: event.agent.extension,
        liveLegs: new Set(),
        transferPending: false,
        endEstimated: false,
        customer: null,
        awaitingCustomer: false,
      };
      this.entries.set(k, entry);
    }
    if (entry.finishTimer) {
      clearTimeout(entry.finishTimer);
      entry.finishTimer = undefined;
    }
    entry.endedAt = undefined;
    switch (event.kind) {
      case 'ringing':
      case 'dialing':
        entry.liveLegs.add(event.legId);
        entry.transferPending = false;
        entry.endEstimated = false;
        break;
      case 'answered':
        entry.answeredAt ??= event.at;
        entry.answeredBy = event.agent.extension;
        entry.lastAgent = event.agent.extension;
        break;
      case 'transferred':
        entry.transferPending = true;
        break;
      case 'ended':
      case 'missed':
        entry.liveLegs.delete(event.legId);
        entry.endEstimated = event.estimatedEnd === true;
        if (entry.answeredBy === null) entry.lastAgent = event.agent.extension;
        break;
    }
    if (entry.liveLegs.size === 0) {
      const endedAt = event.at;
      // After a transfer the target rings shortly after the transferrer hangs up: wait longer.
      const wait = entry.transferPending ? this.graceMs * 10 : this.graceMs;
      const done = entry;
      entry.finishTimer = setTimeout(() => this.end(done, endedAt), wait);
      entry.finishTimer.unref();
    }
  }

  async start(): Promise<void> {}

  async stop(): Promise<void> {
    this.flush();
  }

  /** Closes every open call now (shutdown): no call record is lost. */
  flush(now = Date.now()): void {
    for (const entry of [...this.entries.values()]) this.finish(entry, now);
  }

  private finishOldest(): void {
    const oldest = this.entries.values().next().value;
    if (!oldest) return;
    oldest.endEstimated = true;
    this.finish(oldest, Date.now());
  }

  /** The call is over: logged now, or once its customer is known (bounded wait). */
  private end(entry: JournalEntry, endedAt: number): void {
    if (!entry.awaitingCustomer) return this.finish(entry, endedAt);
    entry.endedAt = endedAt;
    entry.finishTimer = setTimeout(() => this.finish(entry, endedAt), this.customerWaitMs);
    entry.finishTimer.unref();
  }

  private finish(entry: JournalEntry, endedAt: number): void {
    if (entry.finishTimer) clearTimeout(entry.finishTimer);
    this.entries.delete(key(entry.pbxId, entry.callId));
    const outcome: CallRecord['outcome'] =
      entry.answeredAt !== null ? 'answered' : entry.endEstimated ? 'unknown' : entry.direction === 'inbound' ? 'missed' : 'abandoned';
    this.options.onFinished({
      callId: entry.callId,
      pbxId: entry.pbxId,
      direction: entry.direction,
      number: entry.number,
      name: entry.name,
      agent: entry.answeredBy ?? entry.lastAgent,
      queue: entry.queue,
      startedAt: entry.startedAt,
      answeredAt: entry.answeredAt,
      endedAt,
      outcome,
      ...(entry.endEstimated ? { endEstimated: true } : {}),
      customer: entry.customer,
    });
  }
}

function key(pbxId: string, callId: string): string {
  return `${pbxId}\u0000${callId}`;
}
