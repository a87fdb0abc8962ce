import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import Database from 'better-sqlite3';
import { createSampleCrm, SAMPLE_LOG_CALL_QUERY, SAMPLE_LOOKUP_QUERY } from '../../src/sim/sample-crm.js';

/**
 * callpop as a real child process (`node bin/callpop run -c <config>`), so a test can SIGKILL
 * or SIGTERM it by its PID and start it again on the same config, store file and hub port.
 * Every process started here is remembered until it exits: `killStartedDaemons()` (an
 * `after`/`afterEach` hook) SIGKILLs the ones a failed test left behind, by PID only.
 */

export const CHILD_AGENT_TOKEN = 'restart-agent-token';
const BIN = resolve(process.cwd(), 'bin/callpop');
const started = new Set<DaemonChild>();

/** A port that was free a moment ago on 127.0.0.1 (bound with port 0, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

/** A temp dir with the sample CRM and a config naming `pbx`, a fixed hub port and write-back to the CRM. */
export class DaemonSite {
  readonly configFile: string;

  private constructor(
    readonly dir: string,
    readonly hubPort: number,
  ) {
    this.configFile = join(dir, 'callpop.json');
  }

  static async create(pbx: Record<string, unknown>): Promise<DaemonSite> {
    const dir = mkdtempSync(join(tmpdir(), 'callpop-restart-'));
    const site = new DaemonSite(dir, await freePort());
    createSampleCrm(join(dir, 'crm.sqlite'));
    const config = {
      log: { level: 'info' },
      pbx: [{ reconnect: { initial_ms: 50, max_ms: 200 }, ...pbx }],
      connectors: [{ name: 'crm', type: 'sql', driver: 'sqlite', file: 'crm.sqlite', id_field: 'id', lookup_query: SAMPLE_LOOKUP_QUERY, log_call_query: SAMPLE_LOG_CALL_QUERY }],
      lookup: { default_region: 'DE', sources: [{ connector: 'crm' }] },
      mapping: { templates: [{ name: 'default', fields: { name: 'first_name', last_name: 'last_name', company: 'company', account_id: 'id' } }] },
      hub: { host: '127.0.0.1', port: site.hubPort, tokens: [{ token: CHILD_AGENT_TOKEN, agents: ['*'], admin: true }] },
      store: { file: 'callpop.sqlite', writeback: { connectors: ['crm'], retry_initial_ms: 50 } },
    };
    // JSON is YAML: the daemon reads it with its ordinary loader.
    writeFileSync(site.configFile, JSON.stringify(config, null, 2));
    return site;
  }

  get wsUrl(): string {
    return `ws://127.0.0.1:${this.hubPort}/ws`;
  }

  get pageUrl(): string {
    return `http://127.0.0.1:${this.hubPort}/`;
  }

  start(): Promise<DaemonChild> {
    return DaemonChild.start(this);
  }

  /** Rows of the store's `calls` table (read-only; the daemon may be running). */
  storeCalls(): Record<string, unknown>[] {
    return readRows(join(this.dir, 'callpop.sqlite'), 'SELECT * FROM calls');
  }

  /** Rows the write-back delivered into the sample CRM's call_log table. */
  crmCallLog(): Record<string, unknown>[] {
    return readRows(join(this.dir, 'crm.sqlite'), 'SELECT * FROM call_log');
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function readRows(file: string, sql: string): Record<string, unknown>[] {
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch {
    return [];
  }
  try {
    db.pragma('busy_timeout = 2000');
    return db.prepare(sql).all() as Record<string, unknown>[];
  } catch (err) {
    // The daemon creates its tables at start: before that there is nothing to read.
    if (err instanceof Error && /no such table/.test(err.message)) return [];
    throw err;
  } finally {
    db.close();
  }
}

export class DaemonChild {
  private readonly tail: string[] = [];
  private exited = false;
  readonly exit: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    readonly pid: number,
  ) {
    this.exit = new Promise((resolveExit) => {
      child.once('exit', () => {
        this.exited = true;
        started.delete(this);
        resolveExit();
      });
    });
  }

  static async start(site: DaemonSite, timeoutMs = 15_000): Promise<DaemonChild> {
    const child = spawn(process.execPath, [BIN, 'run', '-c', site.configFile], { cwd: site.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    if (child.pid === undefined) throw new Error('cannot spawn node bin/callpop run');
    const daemon = new DaemonChild(child, child.pid);
    started.add(daemon);
    await daemon.waitRunning(site.hubPort, timeoutMs);
    return daemon;
  }

  get alive(): boolean {
    return !this.exited;
  }

  /** The last log lines, for a failure message. */
  lastLines(): string {
    return this.tail.join('\n');
  }

  /** Sends `signal` to this PID and waits for the exit (SIGKILL after `timeoutMs` as a last resort). */
  async kill(signal: 'SIGKILL' | 'SIGTERM', timeoutMs = 10_000): Promise<void> {
    if (this.exited) return;
    process.kill(this.pid, signal);
    const timer = setTimeout(() => {
      if (!this.exited) process.kill(this.pid, 'SIGKILL');
    }, timeoutMs);
    await this.exit;
    clearTimeout(timer);
  }

  private keep(line: string): void {
    this.tail.push(line.slice(0, 600));
    if (this.tail.length > 40) this.tail.shift();
  }

  private waitRunning(port: number, timeoutMs: number): Promise<void> {
    this.child.stderr?.on('data', (chunk: Buffer) => this.keep(chunk.toString()));
    return new Promise((resolveReady, reject) => {
      let settled = false;
      const settle = (err?: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) void this.kill('SIGKILL').then(() => reject(err));
        else resolveReady();
      };
      const timer = setTimeout(() => settle(new Error(`daemon not running within ${timeoutMs} ms:\n${this.lastLines()}`)), timeoutMs);
      // Every line is read (a full pipe would block the daemon); only a tail is kept.
      createInterface({ input: this.child.stdout! }).on('line', (line) => {
        this.keep(line);
        let entry: { msg?: string; port?: number };
        try {
          entry = JSON.parse(line) as typeof entry;
        } catch {
          return;
        }
        if (entry.msg !== 'callpop running') return;
        if (entry.port === port) settle();
        else settle(new Error(`daemon listens on ${String(entry.port)}, not on the configured hub port ${port}`));
      });
      void this.exit.then(() => settle(new Error(`daemon exited before it was running:\n${this.lastLines()}`)));
    });
  }
}

/** SIGKILLs every daemon this process started that is still running (by PID), and waits for them. */
export async function killStartedDaemons(): Promise<void> {
  await Promise.all([...started].map((d) => d.kill('SIGKILL')));
}
