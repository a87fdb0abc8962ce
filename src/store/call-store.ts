import Database from 'better-sqlite3';
import type { CallRecord } from '../model/call-record.js';
import { CallpopError, describeError } from '../model/errors.js';
import type { Lifecycle } from '../model/lifecycle.js';
import { silentLogger, type Logger } from '../model/logger.js';
import { LiveState } from './live-state.js';
import { WalCheckpointer } from './wal-checkpointer.js';

export interface OutboxItem {
  id: number;
  connector: string;
  attempts: number;
  record: CallRecord;
}

/**
 * The call log and the write-back outbox in one SQLite file. A call record and its outbox
 * rows are written in one transaction, so a crash or a CRM outage loses nothing: the
 * outbox is delivered (again) after a restart.
 */
export interface CallStoreOptions {
  /** Where checkpoint problems are reported. */
  logger?: Logger;
  /** Calls and delivered outbox rows older than this are deleted (checked every 10 minutes). */
  keepDays?: number;
}

export class CallStore implements Lifecycle {
  readonly name = 'store';
  private readonly db: Database.Database;
  /** The state of calls in progress (journal, tracker, pops), for a restart to take over. */
  readonly live: LiveState;
  private readonly removeLiveCall: Database.Statement;
  private readonly withdrawCall: Database.Statement;
  private readonly withdrawOutbox: Database.Statement;
  private pruneTimer: NodeJS.Timeout | null = null;
  private readonly checkpointer: WalCheckpointer;
  private readonly insertCall: Database.Statement;
  private readonly insertOutbox: Database.Statement;
  private readonly selectDue: Database.Statement;
  private readonly markDelivered: Database.Statement;
  private readonly markFailed: Database.Statement;

  constructor(
    file: string,
    private readonly options: CallStoreOptions = {},
  ) {
    try {
      this.db = new Database(file);
    } catch (err) {
      throw new CallpopError('CALLPOP_STORE', `cannot open the call store ${file}: ${describeError(err)} (check store.file and its directory's permissions)`);
    }
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    // After a checkpoint the WAL file is cut back to this size instead of keeping its peak.
    this.db.pragma('journal_size_limit = 16777216');
    this.checkpointer = new WalCheckpointer(this.db, file, options.logger ?? silentLogger);
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS calls (
        call_id TEXT NOT NULL, pbx_id TEXT NOT NULL, direction TEXT NOT NULL,
        number TEXT, name TEXT, agent TEXT, queue TEXT,
        started_at INTEGER NOT NULL, answered_at INTEGER, ended_at INTEGER NOT NULL,
        outcome TEXT NOT NULL, customer_source TEXT, customer_id TEXT,
        end_estimated INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (pbx_id, call_id)
      );
      CREATE INDEX IF NOT EXISTS calls_ended ON calls (ended_at);
      CREATE TABLE IF NOT EXISTS outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        pbx_id TEXT NOT NULL, call_id TEXT NOT NULL, connector TEXT NOT NULL,
        record TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
        next_at INTEGER NOT NULL, last_error TEXT, delivered_at INTEGER,
        UNIQUE (pbx_id, call_id, connector)
      );
      CREATE INDEX IF NOT EXISTS outbox_due ON outbox (delivered_at, next_at);
    `);
    addColumnIfMissing(this.db, 'calls', 'end_estimated', 'INTEGER NOT NULL DEFAULT 0');
    this.live = new LiveState(this.db);
    this.removeLiveCall = this.db.prepare(`DELETE FROM live_state WHERE kind = 'call' AND pbx_id = ? AND id = ?`);
    this.insertCall = this.db.prepare(`INSERT OR REPLACE INTO calls
      (call_id, pbx_id, direction, number, name, agent, queue, started_at, answered_at, ended_at, outcome, customer_source, customer_id, end_estimated)
      VALUES (:callId, :pbxId, :direction, :number, :name, :agent, :queue, :startedAt, :answeredAt, :endedAt, :outcome, :source, :customerId, :endEstimated)`);
    // A record saved again before its first delivery attempt (the call resumed, or its
    // customer became known) replaces the queued one; one already tried or delivered stays.
    this.insertOutbox = this.db.prepare(`INSERT INTO outbox (pbx_id, call_id, connector, record, next_at) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (pbx_id, call_id, connector) DO UPDATE SET record = excluded.record, next_at = excluded.next_at
      WHERE outbox.delivered_at IS NULL AND outbox.attempts = 0`);
    this.withdrawCall = this.db.prepare('DELETE FROM calls WHERE pbx_id = ? AND call_id = ?');
    this.withdrawOutbox = this.db.prepare('DELETE FROM outbox WHERE pbx_id = ? AND call_id = ? AND delivered_at IS NULL AND attempts = 0');
    this.selectDue = this.db.prepare(`SELECT id, connector, attempts, record FROM outbox
      WHERE delivered_at IS NULL AND next_at <= ? ORDER BY next_at LIMIT ?`);
    this.markDelivered = this.db.prepare('UPDATE outbox SET delivered_at = ?, attempts = attempts + 1, last_error = NULL WHERE id = ?');
    this.markFailed = this.db.prepare('UPDATE outbox SET attempts = attempts + 1, next_at = ?, last_error = ? WHERE id = ?');
  }

  /**
   * Stores a finished call, queues it for every write-back connector and drops its in-progress
   * state, atomically: a crash leaves the call either in progress or recorded, never neither.
   */
  save(record: CallRecord, writeback: readonly string[], now = Date.now(), options: { final?: boolean; deliverAt?: number; writeback?: boolean } = {}): void {
    const final = options.final ?? true;
    if (final) this.live.discard('call', record.pbxId, record.callId);
    // The legs and pops that ended with this call go first: a kill right after the record
    // must not leave the next process a leg that ends the call a second time.
    this.live.flush();
    const tx = this.db.transaction(() => {
      if (final) this.removeLiveCall.run(record.pbxId, record.callId);
      this.insertCall.run({
        ...record,
        source: record.customer?.source ?? null,
        customerId: record.customer?.id ?? null,
        endEstimated: record.endEstimated ? 1 : 0,
      });
      // A call callpop stopped following to protect itself is kept here, not sent to CRMs.
      if (options.writeback === false) return;
      const json = JSON.stringify(record);
      for (const connector of writeback) this.insertOutbox.run(record.pbxId, record.callId, connector, json, options.deliverAt ?? now);
    });
    tx();
  }

  /** A call recorded as ended resumed (a transfer target or the next queue member rings): its record is withdrawn. */
  withdraw(pbxId: string, callId: string): void {
    this.db.transaction(() => {
      this.withdrawCall.run(pbxId, callId);
      this.withdrawOutbox.run(pbxId, callId);
    })();
  }

  due(now: number, limit = 50): OutboxItem[] {
    const rows = this.selectDue.all(now, limit) as { id: number; connector: string; attempts: number; record: string }[];
    return rows.map((row) => ({ id: row.id, connector: row.connector, attempts: row.attempts, record: JSON.parse(row.record) as CallRecord }));
  }

  delivered(id: number, now = Date.now()): void {
    this.markDelivered.run(now, id);
  }

  failed(id: number, error: string, nextAt: number): void {
    this.markFailed.run(nextAt, error.slice(0, 500), id);
  }

  /** The most recent calls, newest first (for `callpop calls` and tests). */
  recentCalls(limit = 20): Record<string, unknown>[] {
    return this.db.prepare('SELECT * FROM calls ORDER BY ended_at DESC LIMIT ?').all(limit) as Record<string, unknown>[];
  }

  pendingCount(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM outbox WHERE delivered_at IS NULL').get() as { n: number }).n;
  }

  /** Deletes calls and delivered outbox rows older than `keepDays`. */
  prune(keepDays: number, now = Date.now()): void {
    const cutoff = now - keepDays * 86_400_000;
    this.db.prepare('DELETE FROM calls WHERE ended_at < ?').run(cutoff);
    this.db.prepare('DELETE FROM outbox WHERE delivered_at IS NOT NULL AND delivered_at < ?').run(cutoff);
  }

  async start(): Promise<void> {
    this.checkpointer.start();
    const keepDays = this.options.keepDays;
    if (keepDays === undefined) return;
    this.prune(keepDays);
    this.pruneTimer = setInterval(() => this.prune(keepDays), 10 * 60_000);
    this.pruneTimer.unref();
  }

  async stop(): Promise<void> {
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    this.pruneTimer = null;
    await this.checkpointer.stop();
    this.close();
  }

  close(): void {
    if (!this.db.open) return;
    this.live.flush();
    this.db.close();
  }
}

/** Upgrades a store written by an earlier version in place (SQLite has no ADD COLUMN IF NOT EXISTS). */
function addColumnIfMissing(db: Database.Database, table: string, column: string, definition: string): void {
  const columns = db.prepare(`SELECT name FROM pragma_table_info(?)`).all(table) as { name: string }[];
  if (!columns.some((c) => c.name === column)) db.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${definition}`);
}
