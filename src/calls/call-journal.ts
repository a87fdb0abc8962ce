import type { CallEvent } from '../model/call-event.js';
import type { CallRecord } from '../model/call-record.js';
import type { CustomerRef } from '../model/customer.js';
import type { Lifecycle } from '../model/lifecycle.js';
import type { LiveShelf } from '../store/live-state.js';

/**
 * One call followed across its agent legs. Plain data: it is what the call store keeps of a
 * call in progress, so a restarted process completes the record the previous one began.
 */
export interface JournalEntry {
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
  liveLegs: string[];
  transferPending: boolean;
  /** The last leg's end was not reported by the PBX (evicted, swept, gone after a reconnect). */
  endEstimated: boolean;
  customer: CustomerRef | null;
  /** A lookup for the call is running: the record waits for its customer. */
  awaitingCustomer: boolean;
  /** The last leg ended at this (PBX) time; the record is written at `finishAt` unless a leg starts again. */
  endedAt?: number;
  /** Wall-clock time the record is due (after the transfer grace). */
  finishAt?: number;
  /** Taken over from an earlier process: the last moment that process knew the call was up. */
  knownUpUntil?: number;
  /** Its record is in the store already, held back from write-back until `finishAt`. */
  recorded?: boolean;
  /**
   * callpop stopped following the call to protect itself (tracker or journal at its bound, no
   * event for the maximum age): its record is kept but not written back to CRMs, where a flood
   * of never-ending channels would otherwise become a flood of invented calls.
   */
  lostTrack?: boolean;
}

/** How a record is handed to the store. */
export interface RecordDelivery {
  /** Final: the call is over for good; its in-progress state goes. Not final: it may resume (a transfer target, the next queue member). */
  final: boolean;
  /** Write-back must not deliver it before this time (the record may still change until then). */
  deliverAt: number;
  /** False: keep it in callpop's call log only (see JournalEntry.lostTrack). */
  writeback: boolean;
}

export interface CallJournalOptions {
  /** Grace after the last leg ends before the call is closed (a transfer target may still ring). */
  graceMs?: number;
  /** Bound on calls followed at once; past it the oldest is closed. */
  maxCalls?: number;
  /** How long an ended call waits for a running lookup's customer before it is logged without. */
  customerWaitMs?: number;
  /** A call with no event for this long is assumed lost (its end never came) and recorded as such. */
  maxCallAgeMs?: number;
  /** Where calls in progress are kept across restarts; none: in memory only. */
  shelf?: LiveShelf<JournalEntry>;
  /** Marks every stored call in progress as still up now (see LiveState.markSeen). */
  markSeen?: () => void;
  /**
   * Called with a call's record when its last leg ends (not final) and when it is over for
   * good (final); must make it durable before returning. Called again, final, after a change.
   */
  onRecord(record: CallRecord, delivery: RecordDelivery): void;
  /** A call recorded as ended got a new leg within its grace: its record is withdrawn. */
  onResumed?(pbxId: string, callId: string): void;
}

/**
 * Follows each call across its agent legs and produces one CallRecord when the call is
 * over: its last agent leg ended and no transfer target is expected. The pop stage tells it
 * which customer the call is about (`identified`); a call whose lookup is still running when
 * it ends waits for it, within a bound. Every change is written to the call store, so a
 * restart (clean or killed) neither loses a record nor invents an end: a stop leaves calls
 * in progress for the next process.
 */
export class CallJournal implements Lifecycle {
  readonly name = 'journal';
  private readonly entries = new Map<string, JournalEntry>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly graceMs: number;
  private readonly maxCalls: number;
  private readonly customerWaitMs: number;
  private readonly maxCallAgeMs: number;
  private readonly lastActivity = new Map<string, number>();
  private heartbeat: NodeJS.Timeout | null = null;

  constructor(private readonly options: CallJournalOptions) {
    this.graceMs = options.graceMs ?? 3000;
    this.maxCalls = options.maxCalls ?? 50_000;
    this.customerWaitMs = options.customerWaitMs ?? 30_000;
    this.maxCallAgeMs = options.maxCallAgeMs ?? 12 * 3600_000;
  }

  /** Calls followed now. */
  get size(): number {
    return this.entries.size;
  }

  /** Takes over the calls an earlier process left in progress, and keeps them marked as seen. */
  async start(): Promise<void> {
    for (const row of this.options.shelf?.all() ?? []) {
      const entry: JournalEntry = { ...row.value, awaitingCustomer: false, knownUpUntil: row.seenAt };
      const k = key(entry.pbxId, entry.callId);
      this.entries.set(k, entry);
      this.lastActivity.set(k, Date.now());
      if (entry.finishAt !== undefined) this.arm(entry, Math.max(0, entry.finishAt - Date.now()));
    }
    this.heartbeat = setInterval(() => {
      this.options.markSeen?.();
      this.sweep();
    }, 5000);
    this.heartbeat.unref();
  }

  /**
   * Leaves every call in progress in the store for the next process (a stop is not the end
   * of anyone's call), marked as known up until now.
   */
  async stop(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.options.markSeen?.();
  }

  /**
   * After a PBX resync: a call of that PBX whose legs are all unknown to the tracker (taken
   * over from an earlier process, or lost with it) will get no more events. It ends now, with
   * the best end time known, marked estimated.
   */
  reconcile(pbxId: string, isLive: (legId: string) => boolean, now = Date.now()): void {
    for (const entry of [...this.entries.values()]) {
      if (entry.pbxId !== pbxId || entry.finishAt !== undefined || entry.recorded) continue;
      if (entry.liveLegs.some(isLive)) continue;
      entry.endEstimated = true;
      entry.endedAt = Math.max(entry.knownUpUntil ?? now, entry.answeredAt ?? entry.startedAt);
      this.finish(entry);
    }
  }

  /** A lookup for this call started: its record waits for the customer. */
  lookupStarted(pbxId: string, callId: string): void {
    const entry = this.entries.get(key(pbxId, callId));
    if (!entry || entry.customer || entry.awaitingCustomer) return;
    // Not stored: a restarted process does not wait for a lookup the killed one was making.
    entry.awaitingCustomer = true;
  }

  /** The customer the call is about (again after an agent picked another on a shared line). */
  identified(pbxId: string, callId: string, customer: CustomerRef | null): void {
    const entry = this.entries.get(key(pbxId, callId));
    if (!entry) return;
    entry.customer = customer;
    entry.awaitingCustomer = false;
    if (entry.finishAt !== undefined && entry.finishAt <= Date.now()) return this.finish(entry);
    if (entry.recorded) return this.provisional(entry);
    this.save(entry);
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
        liveLegs: [],
        transferPending: false,
        endEstimated: false,
        customer: null,
        awaitingCustomer: false,
      };
      this.entries.set(k, entry);
    }
    // The end of a leg this call no longer counts (reported twice, or again after a restart)
    // changes nothing: above all not the end time of a call already recorded.
    if ((event.kind === 'ended' || event.kind === 'missed') && !entry.liveLegs.includes(event.legId)) return;
    this.lastActivity.set(k, Date.now());
    this.disarm(entry);
    if (entry.recorded && (event.kind === 'ringing' || event.kind === 'dialing')) {
      entry.recorded = false;
      this.options.onResumed?.(entry.pbxId, entry.callId);
    }
    entry.endedAt = undefined;
    entry.finishAt = undefined;
    switch (event.kind) {
      case 'ringing':
      case 'dialing':
        if (!entry.liveLegs.includes(event.legId)) entry.liveLegs.push(event.legId);
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
        entry.liveLegs = entry.liveLegs.filter((leg) => leg !== event.legId);
        entry.endEstimated = event.estimatedEnd === true;
        entry.lostTrack = event.estimatedEnd === true && event.lostTrack === true;
        if (entry.answeredBy === null) entry.lastAgent = event.agent.extension;
        break;
    }
    if (entry.liveLegs.length === 0) {
      // An end nobody reported, of a call taken over from an earlier process: the last
      // moment it was known up is the best end time there is.
      entry.endedAt = entry.endEstimated && entry.knownUpUntil !== undefined ? Math.max(entry.knownUpUntil, entry.answeredAt ?? entry.startedAt) : event.at;
      // After a transfer the target rings shortly after the transferrer hangs up: wait longer.
      const wait = entry.transferPending ? this.graceMs * 10 : this.graceMs;
      entry.finishAt = Date.now() + wait;
      this.arm(entry, wait);
      // Durable now, not after the grace: a kill in the next seconds loses nothing.
      return this.provisional(entry);
    }
    this.save(entry);
  }

  private save(entry: JournalEntry): void {
    const { knownUpUntil: _knownUpUntil, ...stored } = entry;
    this.options.shelf?.put(entry.pbxId, entry.callId, stored);
  }

  private arm(entry: JournalEntry, delay: number): void {
    this.disarm(entry);
    const timer = setTimeout(() => this.due(entry), delay);
    timer.unref();
    this.timers.set(key(entry.pbxId, entry.callId), timer);
  }

  private disarm(entry: JournalEntry): void {
    const k = key(entry.pbxId, entry.callId);
    const timer = this.timers.get(k);
    if (timer) clearTimeout(timer);
    this.timers.delete(k);
  }

  /** The grace is over: the stored record stands (or is written once its customer is known, bounded wait). */
  private due(entry: JournalEntry): void {
    if (this.entries.get(key(entry.pbxId, entry.callId)) !== entry) return;
    if (!entry.awaitingCustomer || (entry.finishAt ?? 0) + this.customerWaitMs <= Date.now()) return this.finish(entry, { unchanged: entry.recorded === true });
    this.arm(entry, (entry.finishAt ?? Date.now()) + this.customerWaitMs - Date.now());
  }

  private finishOldest(): void {
    const oldest = this.entries.values().next().value;
    if (!oldest) return;
    oldest.endEstimated = true;
    oldest.lostTrack = true;
    oldest.endedAt ??= Date.now();
    this.finish(oldest);
  }

  /** Calls with no event for longer than the maximum age lost their end: recorded as such. */
  private sweep(now = Date.now()): void {
    for (const entry of [...this.entries.values()]) {
      const k = key(entry.pbxId, entry.callId);
      if (now - (this.lastActivity.get(k) ?? now) <= this.maxCallAgeMs) continue;
      entry.endEstimated = true;
      entry.lostTrack = true;
      entry.endedAt ??= entry.knownUpUntil ?? now;
      this.finish(entry);
    }
  }

  /** The record as it stands, in the store but held from write-back until the grace is over. */
  private provisional(entry: JournalEntry): void {
    entry.recorded = true;
    // The entry as it now stands is stored before the record (the store flushes pending live
    // state first): a kill between the two leaves an ended call that the next process records.
    this.save(entry);
    this.options.onRecord(this.recordOf(entry), {
      final: false,
      deliverAt: (entry.finishAt ?? Date.now()) + (entry.awaitingCustomer ? this.customerWaitMs : 0),
      writeback: !entry.lostTrack,
    });
  }

  /**
   * The call is over for good. `unchanged`: the record stored when its last leg ended is
   * still right (its outbox row already comes due now), so only its in-progress state goes.
   */
  private finish(entry: JournalEntry, how: { unchanged?: boolean } = {}): void {
    const k = key(entry.pbxId, entry.callId);
    this.disarm(entry);
    this.entries.delete(k);
    this.lastActivity.delete(k);
    if (how.unchanged && this.options.shelf) return this.options.shelf.remove(entry.pbxId, entry.callId);
    this.options.onRecord(this.recordOf(entry), { final: true, deliverAt: Date.now(), writeback: !entry.lostTrack });
  }

  private recordOf(entry: JournalEntry): CallRecord {
    const outcome: CallRecord['outcome'] =
      entry.answeredAt !== null ? 'answered' : entry.endEstimated ? 'unknown' : entry.direction === 'inbound' ? 'missed' : 'abandoned';
    return {
      callId: entry.callId,
      pbxId: entry.pbxId,
      direction: entry.direction,
      number: entry.number,
      name: entry.name,
      agent: entry.answeredBy ?? entry.lastAgent,
      queue: entry.queue,
      startedAt: entry.startedAt,
      answeredAt: entry.answeredAt,
      endedAt: entry.endedAt ?? Date.now(),
      outcome,
      ...(entry.endEstimated ? { endEstimated: true } : {}),
      customer: entry.customer,
    };
  }
}

function key(pbxId: string, callId: string): string {
  return `${pbxId}\u0000${callId}`;
}
