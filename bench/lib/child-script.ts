import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { rssMiB } from './proc-stats.js';

/** A compiled bench/lib script run as a child process; its first stdout line is JSON. */
export class ChildScript<T> {
  private exited = false;
  private readonly exit: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    readonly pid: number,
    readonly hello: T,
  ) {
    this.exit = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) {
        this.exited = true;
        resolve();
      }
      child.once('exit', () => {
        this.exited = true;
        resolve();
      });
    });
  }

  /** Starts `bench/lib/<script>.js` with `args`; resolves with the JSON of its first stdout line. */
  static async start<T>(script: string, args: string[], timeoutMs = 10_000): Promise<ChildScript<T>> {
    const file = join(dirname(fileURLToPath(import.meta.url)), `${script}.js`);
    const child = spawn(process.execPath, [file, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    if (child.pid === undefined) throw new Error(`cannot spawn ${script}`);
    const pid = child.pid;
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-2000)));
    const hello = await new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`${script} did not start within ${timeoutMs} ms: ${stderr}`));
      }, timeoutMs);
      const lines = createInterface({ input: child.stdout! });
      lines.once('line', (line) => {
        clearTimeout(timer);
        try {
          resolve(JSON.parse(line) as T);
        } catch {
          child.kill('SIGKILL');
          reject(new Error(`${script}: unexpected output ${line.slice(0, 200)}`));
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`${script} exited (${String(code)}) before it was ready: ${stderr}`));
      });
    });
    return new ChildScript(child, pid, hello);
  }

  rss(): number {
    return rssMiB(this.pid);
  }

  /** SIGTERM to this PID, SIGKILL after `graceMs`. */
  async stop(graceMs = 3_000): Promise<void> {
    if (this.exited) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => {
      if (!this.exited) this.child.kill('SIGKILL');
    }, graceMs);
    await this.exit;
    clearTimeout(timer);
  }
}
