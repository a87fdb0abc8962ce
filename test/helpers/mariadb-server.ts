import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { findBinary, freePort, runToEnd, spawnServer, waitUntil, type ServerProcess } from './require-binary.js';

/**
 * A throwaway MariaDB server for tests: mariadb-install-db into a temp dir, mariadbd on
 * 127.0.0.1 on a free port with its socket in the temp dir and --skip-grant-tables (any user,
 * no password). Stopped by its own PID (never by name) and its dir removed.
 */

export interface MariadbServer {
  /** mysql://root@127.0.0.1:<port>/callpop_test */
  url: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
}

const DATABASE = 'callpop_test';

function binaries(): { install?: string; server?: string } {
  const install = findBinary(['/usr/bin/mariadb-install-db', '/usr/local/bin/mariadb-install-db', '/usr/bin/mysql_install_db']);
  const server = findBinary(['/usr/sbin/mariadbd', '/usr/local/sbin/mariadbd', '/usr/sbin/mysqld']);
  return { ...(install ? { install } : {}), ...(server ? { server } : {}) };
}

export function mariadbUnavailableReason(): string | undefined {
  const { install, server } = binaries();
  if (!install || !server) return 'MariaDB is not installed (no mariadb-install-db/mariadbd); install the apt package mariadb-server';
  return undefined;
}

export async function startMariadbServer(): Promise<MariadbServer> {
  const { install, server: mariadbd } = binaries();
  if (!install || !mariadbd) throw new Error(mariadbUnavailableReason());
  const dir = mkdtempSync(join(tmpdir(), 'callpop-mariadb-'));
  const data = join(dir, 'data');
  const port = await freePort();
  // --user=root: mariadbd refuses to run as root unless told to; harmless when not root.
  const asUser = process.getuid?.() === 0 ? ['--user=root'] : [];
  let server: ServerProcess | undefined;
  try {
    await runToEnd(
      install,
      ['--no-defaults', `--datadir=${data}`, '--auth-root-authentication-method=normal', '--skip-test-db', '--skip-name-resolve', ...asUser],
      { timeoutMs: 90_000 },
    );
    server = await spawnServer(mariadbd, [
      '--no-defaults',
      `--datadir=${data}`,
      `--socket=${join(dir, 'mysqld.sock')}`,
      `--pid-file=${join(dir, 'mysqld.pid')}`,
      `--port=${port}`,
      '--bind-address=127.0.0.1',
      '--skip-grant-tables',
      '--skip-name-resolve',
      '--skip-log-bin',
      '--innodb-buffer-pool-size=32M',
      '--innodb-flush-log-at-trx-commit=0',
      '--max-connections=50',
      ...asUser,
    ]);
    const s = server;
    const base = `mysql://root@127.0.0.1:${port}`;
    await waitUntil(
      async () => {
        const conn = await mysql.createConnection({ uri: base, connectTimeout: 1000 });
        try {
          await conn.query(`CREATE DATABASE IF NOT EXISTS ${DATABASE}`);
        } finally {
          await conn.end().catch(() => {});
        }
      },
      30_000,
      () => !s.exited(),
    ).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${s.output()}`);
    });
    return {
      url: `${base}/${DATABASE}`,
      port,
      pid: s.pid,
      async stop() {
        await s.stop('SIGTERM');
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await server?.stop('SIGKILL', 0);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
