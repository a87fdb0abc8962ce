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
 * loses its record. One small table of JSON rows: each stage owns its own row shape.
 *
 * Changes are written behind, every 10 ms at most, in one transaction: the rows a burst of
 * events touches are written once each, off the pop's path, instead of one autocommit per
 * change (measured: that cost 0.4 ms of pop latency at p50). What a kill can lose is the last
 * 10 ms of changes, never a call's record: `CallStore.save` writes records synchronously
 * (and flushes the pending changes first). A call's leg, pop and journal row change in the
 * same turn, so they are lost or kept together: a call rung in the last 10 ms before a kill
 * is taken for a new call by the next process and popped once more (same call id; the page
 * replaces its card). Writing a pop before it is sent closed that window but measured a
 * fifth of the sustained call rate and +0.3-1 ms of pop p50 (docs/performance.md). With
 * `synchronous = NORMAL` a written row survives the process being killed (not the machine
 * losing power).
 */
export class LiveState {
  private readonly upsert: Database.Statement;
  private readonly delete: Database.Statement;
  private readonly select: Database.Statement;
  private readonly touch: Database.Statement;
  /** Changes not yet written, by row: the last change of a row wins. */
  private readonly pending = new Map<string, { kind: LiveKind; pbxId: string; id: string; value: unknown | undefined }>();
  private timer: NodeJS.Timeout | null = null;

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
      put: (pbxId, id, value) => this.change(kind, pbxId, id, value),
      remove: (pbxId, id) => this.change(kind, pbxId, id, undefined),
      all: () => {
        this.flush();
        return (this.select.all(kind) as { pbx_id: string; id: string; data: string; seen_at: number }[]).flatMap((row) => {
          try {
            return [{ pbxId: row.pbx_id, id: row.id, value: JSON.parse(row.data) as T, seenAt: row.seen_at }];
          } catch {
            return []; // a row this version cannot read is skipped, not fatal
          }
        });
      },
    };
  }

  /**
   * Forgets a pending change of a row that the caller is about to delete in its own
   * transaction (a finished call), so the write-behind does not bring it back.
   */
  discard(kind: LiveKind, pbxId: string, id: string): void {
    this.pending.delete(rowKey(kind, pbxId, id));
  }

  /**
   * Marks every call in progress as known to be up at `now`: a call that ends while no
   * process watches is then recorded as ending between this moment and the next process's
   * resync, not at the last event it had.
   */
  markSeen(now = Date.now()): void {
    this.flush();
    this.touch.run(now, 'call');
  }

  /** Writes every pending change now, in one transaction. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.pending.size === 0 || !this.db.open) return;
    const changes = [...this.pending.values()];
    this.pending.clear();
    const now = Date.now();
    this.db.transaction(() => {
      for (const c of changes) {
        if (c.value === undefined) this.delete.run(c.kind, c.pbxId, c.id);
        else this.upsert.run(c.kind, c.pbxId, c.id, JSON.stringify(c.value), now);
      }
    })();
  }

  private change(kind: LiveKind, pbxId: string, id: string, value: unknown | undefined): void {
    const k = rowKey(kind, pbxId, id);
    // Re-inserted so rows are written in the order they last changed.
    this.pending.delete(k);
    this.pending.set(k, { kind, pbxId, id, value });
    this.timer ??= setTimeout(() => this.flush(), FLUSH_DELAY_MS).unref();
  }
}

/**
 * How long changes gather before they are written in one transaction. Under load (hundreds
 * of calls a second) a turn of the event loop carries a few changes; 10 ms carries dozens,
 * in one transaction instead of one each. A kill loses at most this much of the live state.
 */
const FLUSH_DELAY_MS = 10;

function rowKey(kind: LiveKind, pbxId: string, id: string): string {
  return `${kind}\u0000${pbxId}\u0000${id}`;
}
