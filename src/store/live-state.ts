import type Database from 'better-sqlite3';

/** The kinds of state of calls in progress that outlive a process. */
export type LiveKind = 'call' | 'leg' | 'pop';

/** One kind of live state as the stages see it: put on every change, removed when over. */
export interface LiveShelf<T> {
  put(pbxId: string, id: string, value: T): void;
  remove(pbxId: string, id: string): void;
  /** Everything stored, oldest first (what a restarted process takes over). */
  all(): { pbxId: string; id: string; value: T; seenAt: number }[];
}

/**
 * The state of calls in progress (call journal entries, tracked legs, live pops), kept in
 * the call store as it changes so that a restart, clean or not, neither re-pops a call nor
 * loses its record. One small table of JSON rows: each stage owns its own row shape and
 * writes a row only when that row changes. better-sqlite3 writes synchronously, so a row is
 * in the WAL before the event that changed it is handed on; with `synchronous = NORMAL` that
 * survives the process being killed (not the machine losing power).
 */
export class LiveState {
  private readonly upsert: Database.Statement;
  private readonly delete: Database.Statement;
  private readonly select: Database.Statement;
  private readonly touch: Database.Statement;

  constructor(private readonly db: Database.Database) {
    db.exec(`
      CREATE TABLE IF NOT EXISTS live_state (
        kind TEXT NOT NULL, pbx_id TEXT NOT NULL, id TEXT NOT NULL,
        data TEXT NOT NULL, seen_at INTEGER NOT NULL,
        PRIMARY KEY (kind, pbx_id, id)
      );
    `);
    this.upsert = db.prepare(`INSERT INTO live_state (kind, pbx_id, id, data, seen_at) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (kind, pbx_id, id) DO UPDATE SET data = excluded.data, seen_at = excluded.seen_at`);
    this.delete = db.prepare('DELETE FROM live_state WHERE kind = ? AND pbx_id = ? AND id = ?');
    this.select = db.prepare('SELECT pbx_id, id, data, seen_at FROM live_state WHERE kind = ? ORDER BY rowid');
    this.touch = db.prepare('UPDATE live_state SET seen_at = ? WHERE kind = ?');
  }

  shelf<T>(kind: LiveKind): LiveShelf<T> {
    return {
      put: (pbxId, id, value) => void this.upsert.run(kind, pbxId, id, JSON.stringify(value), Date.now()),
      remove: (pbxId, id) => void this.delete.run(kind, pbxId, id),
      all: () =>
        (this.select.all(kind) as { pbx_id: string; id: string; data: string; seen_at: number }[]).flatMap((row) => {
          try {
            return [{ pbxId: row.pbx_id, id: row.id, value: JSON.parse(row.data) as T, seenAt: row.seen_at }];
          } catch {
            return []; // a row this version cannot read is skipped, not fatal
          }
        }),
    };
  }

  /**
   * Marks every call in progress as known to be up at `now`: a call that ends while no
   * process watches is then recorded as ending between this moment and the next process's
   * resync, not at the last event it had.
   */
  markSeen(now = Date.now()): void {
    this.touch.run(now, 'call');
  }

  /** Runs `work` in one transaction (several rows that change together). */
  together<T>(work: () => T): T {
    return this.db.transaction(work)();
  }
}
