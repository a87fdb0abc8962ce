import { accessSync, constants, readdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Real servers (PostgreSQL, MariaDB) are started by the tests, never mocked. Where a binary is
 * missing the suite is skipped loudly; on CI (`CI=true`) a missing server is a failure, so a
 * broken CI image cannot silently skip the database tests.
 */

/** The first of `paths` that exists and is executable; globs one `*` path segment. */
export function findBinary(paths: string[]): string | undefined {
  for (const pattern of paths) {
    for (const path of expand(pattern)) {
      try {
        accessSync(path, constants.X_OK);
        return path;
      } catch {
        // not here; try the next one
      }
    }
  }
  return undefined;
}

/** Skips the current suite with a loud reason, or fails it on CI. Call from a `before` hook. */
export function skipOrFail(ctx: Mocha.Context, reason: string): never {
  if (process.env.CI === 'true') throw new Error(`${reason} (CI=true: the server is required)`);
  console.warn(`\n  !! SKIPPED: ${reason}\n`);
  ctx.skip();
}

function expand(pattern: string): string[] {
  const star = pattern.indexOf('*');
  if (star === -1) return [pattern];
  const dir = pattern.slice(0, pattern.lastIndexOf('/', star));
  const rest = pattern.slice(pattern.indexOf('/', star));
  try {
    // Newest version first (e.g. /usr/lib/postgresql/16 before 15).
    const names = readdirSync(dir).sort((a, b) => b.localeCompare(a, undefined, { numeric: true }));
    return names.map((name) => join(dir, name) + rest);
  } catch {
    return [];
  }
}

/** A port that was free a moment ago on 127.0.0.1 (servers like postgres cannot take port 0). */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** uid/gid of a system user, for running a server that refuses root (postgres). */
export async function systemUser(name: string): Promise<{ uid: number; gid: number } | undefined> {
  const { readFileSync } = await import('node:fs');
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`));
  const parts = line?.split(':');
  if (!parts || parts.length < 4) return undefined;
  return { uid: Number(parts[2]), gid: Number(parts[3]) };
}

export interface ServerProcess {
  pid: number;
  /** Output so far, for the error message when the server does not come up. */
  output(): string;
  exited(): boolean;
  /** Exit code once exited (null when killed by a signal or still running). */
  exitCode(): number | null;
  /** Sends `signal` to exactly this PID, then SIGKILL after `graceMs`; resolves when it exited. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

export async function spawnServer(
  command: string,
  args: string[],
  opts: { uid?: number; gid?: number; cwd?: string } = {},
): Promise<ServerProcess> {
  const { spawn } = await import('node:child_process');
  const child = spawn(command, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let done = false;
  let code: number | null = null;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', (exitCode) => {
      code = exitCode;
      done = true;
      resolve();
    });
    child.once('error', (err) => {
      out += String(err);
      done = true;
      resolve();
    });
  });
  // Keep only the tail: a chatty server must not grow memory.
  const keep = (chunk: Buffer): void => {
    out = (out + chunk.toString()).slice(-8000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  if (child.pid === undefined) {
    await exit;
    throw new Error(`cannot start ${command}: ${out}`);
  }
  const pid = child.pid;
  return {
    pid,
    output: () => out,
    exited: () => done,
    exitCode: () => code,
    async stop(signal = 'SIGTERM', graceMs = 10_000) {
      if (done) return;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exit;
      clearTimeout(timer);
    },
  };
}

/** Runs a command to completion (bounded); rejects with its output on a non-zero exit. */
export async function runToEnd(
  command: string,
  args: string[],
  opts: { uid?: number; gid?: number; timeoutMs?: number } = {},
): Promise<string> {
  const proc = await spawnServer(command, args, opts);
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  while (!proc.exited()) {
    if (Date.now() > deadline) {
      await proc.stop('SIGKILL', 0);
      throw new Error(`${command} did not finish in time: ${proc.output()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  if (proc.exitCode() !== 0) throw new Error(`${command} failed (exit ${String(proc.exitCode())}): ${proc.output()}`);
  return proc.output();
}

/** Polls `probe` until it resolves, bounded in time; the last error is in the rejection. */
export async function waitUntil(probe: () => Promise<unknown>, timeoutMs: number, alive: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    if (!alive()) throw new Error(`server exited: ${String(last)}`);
    try {
      await probe();
      return;
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`server not ready after ${timeoutMs} ms: ${String(last)}`);
}
