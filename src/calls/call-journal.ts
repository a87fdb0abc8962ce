import type { CallRecord } from '../model/call-record.js';
import type { CallEvent } from '../model/call-event.js';
import type { LookupResult } from '../model/customer.js';

/**
 * Follows each call across its agent legs and produces one CallRecord when the call is
 * over: its last agent leg ended and no transfer target is expected. Also keeps the call's
 * lookup so a transfer target gets the known customer without a second CRM query.
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
  lookup?: Promise<LookupResult>;
  /** Index of the match the agent picked on a shared line (default the best, 0). */
  selected: number;
  finishTimer?: NodeJS.Timeout;
}

export interface CallJournalOptions {
  /** Grace after the last leg ends before the call is closed (a transfer target may still ring). */
  graceMs?: number;
  /** Bound on calls followed at once; past it the oldest is closed. */
  maxCalls?: number;
  onFinished(record: CallRecord): void;
}

export class CallJournal {
  private readonly entries = new Map<string, JournalEntry>();
  private readonly graceMs: number;
  private readonly maxCalls: number;

  constructor(private readonly options: CallJournalOptions) {
    this.graceMs = options.graceMs ?? 3000;
    this.maxCalls = options.maxCalls ?? 50_000;
  }

  /** The lookup already made for this call (transfer targets reuse it), if any. */
  lookupFor(pbxId: string, callId: string): Promise<LookupResult> | undefined {
    return this.entries.get(key(pbxId, callId))?.lookup;
  }

  setLookup(pbxId: string, callId: string, lookup: Promise<LookupResult>): void {
    const entry = this.entries.get(key(pbxId, callId));
    if (entry) entry.lookup = lookup;
  }

  /** The agent picked another customer of a shared number: the call is logged against it. */
  select(pbxId: string, callId: string, index: number): void {
    const entry = this.entries.get(key(pbxId, callId));
    if (entry) entry.selected = index;
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
        selected: 0,
      };
      this.entries.set(k, entry);
    }
    if (entry.finishTimer) {
      clearTimeout(entry.finishTimer);
      entry.finishTimer = undefined;
    }
    switch (event.kind) {
      case 'ringing':
      case 'dialing':
        entry.liveLegs.add(event.legId);
        entry.transferPending = false;
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
        if (entry.answeredBy === null) entry.lastAgent = event.agent.extension;
        break;
    }
    if (entry.liveLegs.size === 0) {
      const endedAt = event.at;
      // After a transfer the target rings shortly after the transferrer hangs up: wait longer.
      const wait = entry.transferPending ? this.graceMs * 10 : this.graceMs;
      const done = entry;
      entry.finishTimer = setTimeout(() => this.finish(done, endedAt), wait);
      entry.finishTimer.unref();
    }
  }

  /** Closes every open call now (shutdown): no call record is lost. */
  flush(now = Date.now()): void {
    for (const entry of [...this.entries.values()]) this.finish(entry, now);
  }

  private finishOldest(): void {
    const oldest = this.entries.values().next().value;
    if (oldest) this.finish(oldest, Date.now());
  }

  private finish(entry: JournalEntry, endedAt: number): void {
    if (entry.finishTimer) clearTimeout(entry.finishTimer);
    this.entries.delete(key(entry.pbxId, entry.callId));
    const outcome: CallRecord['outcome'] = entry.answeredAt !== null ? 'answered' : entry.direction === 'inbound' ? 'missed' : 'abandoned';
    const base = { callId: entry.callId, pbxId: entry.pbxId, direction: entry.direction, number: entry.number, name: entry.name };
    const finish = (customer: CallRecord['customer']) =>
      this.options.onFinished({
        ...base,
        agent: entry.answeredBy ?? entry.lastAgent,
        queue: entry.queue,
        startedAt: entry.startedAt,
        answeredAt: entry.answeredAt,
        endedAt,
        outcome,
        customer,
      });
    if (!entry.lookup) return finish(null);
    entry.lookup.then(
      (result) => {
        const best = result.matches[entry.selected] ?? result.matches[0];
        finish(best ? { source: best.source, ...(best.id !== undefined ? { id: best.id } : {}) } : null);
      },
      () => finish(null),
    );
  }
}

function key(pbxId: string, callId: string): string {
  return `${pbxId}\u0000${callId}`;
}
