import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import type { Logger } from '../model/logger.js';

/**
 * Moves the call store's WAL checkpoints into a worker thread. SQLite's automatic
 * checkpoint runs inside whichever write crosses the WAL threshold and fsyncs the database
 * there, on the daemon's only thread, in the middle of a pop. With the live state of calls
 * in progress written as it changes, that happened every few seconds under load. Falls back
 * to SQLite's own checkpoints when the worker cannot run.
 */
export class WalCheckpointer {
  private worker: Worker | null = null;

  constructor(
    private readonly db: Database.Database,
    private readonly file: string,
    private readonly logger: Logger,
    private readonly intervalMs = 1000,
  ) {}

  start(): void {
    if (this.file === ':memory:' || this.worker) return;
    try {
      this.worker = new Worker(new URL('./wal-checkpoint-worker.js', import.meta.url), { workerData: { file: this.file, intervalMs: this.intervalMs } });
    } catch (err) {
      this.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'cannot checkpoint the call store in a worker; SQLite checkpoints on the main thread');
      return;
    }
    this.worker.unref();
    this.db.pragma('wal_autocheckpoint = 0');
    const fallBack = (why: string) => {
      this.logger.warn({ why }, 'call store checkpoint worker stopped; SQLite checkpoints on the main thread again');
      if (this.db.open) this.db.pragma('wal_autocheckpoint = 1000');
      this.worker = null;
    };
    let reported = false;
    this.worker.on('message', (message: { error?: string }) => {
      if (message.error && !reported) {
        reported = true;
        this.logger.warn({ err: message.error }, 'call store checkpoint failed (logged once; retried every second)');
      }
    });
    this.worker.on('error', (err) => fallBack(err.message));
    this.worker.on('exit', (code) => {
      if (this.worker) fallBack(`exit ${code}`);
    });
  }

  async stop(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    if (!worker) return;
    worker.postMessage('stop');
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => void worker.terminate().then(() => resolve()), 2000);
      worker.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    if (this.db.open) this.db.pragma('wal_autocheckpoint = 1000');
  }
}
