import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { rssMiB } from './proc-stats.js';

/**
 * `node bin/callpop run -c <tmp config>` as a child process, so the figures are the daemon's
 * own (its RSS, its event loop) and the load generator in the bench process does not share
 * its event loop. Stopped by its PID only.
 */

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const AMI_USER = 'callpop';
export const AMI_SECRET = 'bench-ami-secret';
export const AGENT_TOKEN = 'bench-agent-token';

export interface DaemonProcessOptions {
  /** Directory holding the config (and the CRM file a sqlite connector names). */
  dir: string;
  amiPort: number;
  connector: Record<string, unknown>;
  /** `lookup:` block; default: the connector as the only source, cache on. */
  lookup?: Record<string, unknown>;
  hub?: Record<string, unknown>;
  logLevel?: string;
  readyTimeoutMs?: number;
  /** Extra node flags for the daemon (e.g. `--cpu-prof` to profile it under load). */
  nodeArgs?: string[];
}

/** A temp dir for one benchmark's files; removed by the returned function. */
export function tempDir(prefix: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `callpop-bench-${prefix}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export function writeDaemonConfig(options: DaemonProcessOptions): string {
  const config = {
    log: { level: options.logLevel ?? 'info' },
    pbx: [
      {
        id: 'pbx-a',
        type: 'asterisk',
        host: '127.0.0.1',
        port: options.amiPort,
        username: AMI_USER,
        secret: AMI_SECRET,
        reconnect: { initial_ms: 50, max_ms: 500 },
      },
    ],
    connectors: [options.connector],
    lookup: options.lookup ?? { default_region: 'DE', sources: [{ connector: String(options.connector['name']) }] },
    mapping: {
      templates: [{ name: 'default', fields: { name: 'first_name', last_name: 'last_name', company: 'company', tier: 'tier', account_id: 'id' } }],
    },
    hub: { host: '127.0.0.1', port: 0, tokens: [{ name: 'bench', token: AGENT_TOKEN, agents: ['*'] }], ...options.hub },
    store: { file: 'callpop.sqlite' },
  };
  const file = join(options.dir, 'callpop.yaml');
  // JSON is YAML: the daemon reads it with its ordinary loader.
  writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

export class DaemonProcess {
  /** Lines the daemon logged at warn or above (pino levels >= 40), to flag a run that misbehaved. */
  warnings = 0;
  private readonly tail: string[] = [];
  private exited = false;
  private readonly exit: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    readonly pid: number,
  ) {
    this.exit = new Promise((resolveExit) => {
      child.once('exit', () => {
        this.exited = true;
        resolveExit();
      });
    });
  }

  port = 0;
  /** performance.now() from spawn to "hub listening and AMI logged in", as the daemon logged it. */
  readyMs = Number.NaN;

  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}/ws`;
  }

  get alive(): boolean {
    return !this.exited;
  }

  /** Spawns the daemon with a config written into `options.dir`; resolves once it is ready. */
  static async start(options: DaemonProcessOptions): Promise<DaemonProcess> {
    const config = writeDaemonConfig(options);
    const spawnedAt = performance.now();
    const child = spawn(process.execPath, [...(options.nodeArgs ?? []), join(REPO_ROOT, 'bin/callpop'), 'run', '-c', config], {
      cwd: options.dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (child.pid === undefined) throw new Error('cannot spawn node bin/callpop run');
    const daemon = new DaemonProcess(child, child.pid);
    await daemon.waitReady(spawnedAt, options.readyTimeoutMs ?? 20_000);
    return daemon;
  }

  /** The daemon's resident set size now, MiB. */
  rss(): number {
    return rssMiB(this.pid);
  }

  /** Last log lines (for an error message when a run fails). */
  lastLines(): string {
    return this.tail.join('\n');
  }

  /** SIGTERM to this PID (clean stop), SIGKILL after `graceMs`; resolves with the ms it took to exit. */
  async stop(graceMs = 5_000): Promise<number> {
    if (this.exited) return 0;
    const start = performance.now();
    process.kill(this.pid, 'SIGTERM');
    const timer = setTimeout(() => {
      if (!this.exited) process.kill(this.pid, 'SIGKILL');
    }, graceMs);
    await this.exit;
    clearTimeout(timer);
    return performance.now() - start;
  }

  private keep(line: string): void {
    this.tail.push(line.slice(0, 500));
    if (this.tail.length > 20) this.tail.shift();
  }

  private waitReady(spawnedAt: number, timeoutMs: number): Promise<void> {
    const child = this.child;
    child.stderr?.on('data', (chunk: Buffer) => this.keep(chunk.toString()));
    return new Promise((resolveReady, reject) => {
      let listening = false;
      let loggedIn = false;
      let settled = false;
      const settle = (err?: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) {
          void this.stop(0).then(() => reject(err));
        } else {
          resolveReady();
        }
      };
      const timer = setTimeout(() => settle(new Error(`daemon not ready within ${timeoutMs} ms:\n${this.lastLines()}`)), timeoutMs);
      const lines = createInterface({ input: child.stdout! });
      // Every line is read (a full pipe would block the daemon); only a short tail is kept.
      lines.on('line', (line) => {
        let entry: { level?: number; msg?: string; port?: number };
        try {
          entry = JSON.parse(line) as typeof entry;
        } catch {
          this.keep(line);
          return;
        }
        if ((entry.level ?? 0) >= 40) {
          this.warnings++;
          this.keep(line);
        }
        if (settled) return;
        if (entry.msg === 'callpop running' && typeof entry.port === 'number') {
          listening = true;
          this.port = entry.port;
        }
        if (entry.msg === 'AMI logged in') loggedIn = true;
        if (listening && loggedIn) {
          this.readyMs = performance.now() - spawnedAt;
          settle();
        }
      });
      void this.exit.then(() => settle(new Error(`daemon exited before it was ready:\n${this.lastLines()}`)));
    });
  }
}
