import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { findBinary, freePort, runToEnd, spawnServer, systemUser, waitUntil, type ServerProcess } from './require-binary.js';

/**
 * A throwaway PostgreSQL server for tests: initdb into a temp dir, `postgres` on 127.0.0.1 on a
 * free port, trust auth. Stopped by its own PID (never by name) and its dir removed.
 * PostgreSQL refuses to run as root, so as root the processes run as the `postgres` user
 * (child_process uid/gid: the PID we hold is the server itself, not a su/runuser wrapper).
 */

export interface PgServer {
  /** postgres://postgres@127.0.0.1:<port>/postgres */
  url: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
}

const BIN_DIRS = ['/usr/lib/postgresql/*/bin', '/usr/local/pgsql/bin', '/usr/bin'];

/** Why the server cannot be started here, or undefined when it can. */
export function pgUnavailableReason(): string | undefined {
  if (!findBinary(BIN_DIRS.map((d) => `${d}/initdb`))) {
    return 'PostgreSQL is not installed (no initdb in /usr/lib/postgresql/*/bin); install the apt package postgresql';
  }
  return undefined;
}

export async function startPgServer(): Promise<PgServer> {
  const initdb = findBinary(BIN_DIRS.map((d) => `${d}/initdb`));
  if (!initdb) throw new Error(pgUnavailableReason());
  const postgres = initdb.replace(/initdb$/, 'postgres');
  const user = process.getuid?.() === 0 ? await systemUser('postgres') : undefined;
  if (process.getuid?.() === 0 && !user) throw new Error('running as root but there is no postgres user to run PostgreSQL as');

  const dir = mkdtempSync(join(tmpdir(), 'callpop-pg-'));
  const data = join(dir, 'data');
  if (user) chownSync(dir, user.uid, user.gid);
  const port = await freePort();
  let server: ServerProcess | undefined;
  try {
    await runToEnd(initdb, ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-sync', '--no-instructions'], {
      ...user,
      timeoutMs: 60_000,
    });
    server = await spawnServer(
      postgres,
      [
        '-D', data,
        '-p', String(port),
        '-k', dir,
        '-c', 'listen_addresses=127.0.0.1',
        '-c', 'fsync=off',
        '-c', 'synchronous_commit=off',
        '-c', 'full_page_writes=off',
        '-c', 'max_connections=50',
      ],
      user ?? {},
    );
    const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
    const s = server;
    await waitUntil(
      async () => {
        const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
        try {
          await client.connect();
          await client.query('SELECT 1');
        } finally {
          await client.end().catch(() => {});
        }
      },
      20_000,
      () => !s.exited(),
    ).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${s.output()}`);
    });
    return {
      url,
      port,
      pid: s.pid,
      async stop() {
        // SIGINT = PostgreSQL "fast shutdown": disconnect clients, stop at once.
        await s.stop('SIGINT');
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await server?.stop('SIGKILL', 0);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
