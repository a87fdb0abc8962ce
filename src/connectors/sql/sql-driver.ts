import type { CompiledSql, SqlDialect } from './named-params.js';

/** A value bound to a statement parameter. Booleans are sent as 1/0 by drivers that need it. */
export type SqlValue = string | number | null;

/**
 * What the SQL connector needs from a database client. One implementation per driver; the
 * connector (tokenizer, candidates, row coercion) is shared by all three.
 */
export interface SqlDriver {
  readonly dialect: SqlDialect;
  /** Parses/prepares a statement early so a syntax error shows up at start, not at the first call. */
  prepare(sql: CompiledSql): Promise<void>;
  /** Runs a statement that returns rows, with bound values; rejects promptly when `signal` aborts. */
  all(sql: CompiledSql, values: Record<string, SqlValue>, signal: AbortSignal): Promise<unknown[]>;
  /**
   * Runs one statement with each set of values in turn, on one connection, until one returns
   * rows; returns those rows (or [] when none did). This is the `:number` candidate loop:
   * one pool checkout instead of one per candidate.
   */
  firstRows(sql: CompiledSql, valueSets: Record<string, SqlValue>[], signal: AbortSignal): Promise<unknown[]>;
  /** Runs a statement that returns no rows (INSERT/UPDATE). */
  run(sql: CompiledSql, values: Record<string, SqlValue>, signal: AbortSignal): Promise<void>;
  /** Round trip to the database (`SELECT 1`). */
  ping(signal: AbortSignal): Promise<void>;
  /** Secret-free description, e.g. `postgres at 127.0.0.1:5432/crm`. */
  describe(): string;
  close(): Promise<void>;
}

/** Positional values for pg/mysql from the named values (missing names bind NULL). */
export function positionalValues(sql: CompiledSql, values: Record<string, SqlValue>): SqlValue[] {
  return sql.positions.map((name) => values[name] ?? null);
}

/**
 * Races `work` against `signal`. On abort it rejects at once with the signal's reason and
 * calls `onAbort` (to destroy the busy connection); a later rejection of `work` is swallowed.
 */
export function abortable<T>(work: Promise<T>, signal: AbortSignal, onAbort?: () => void): Promise<T> {
  if (signal.aborted) {
    work.catch(() => {});
    onAbort?.();
    return Promise.reject(abortReason(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const abort = (): void => {
      work.catch(() => {});
      onAbort?.();
      reject(abortReason(signal));
    };
    signal.addEventListener('abort', abort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', abort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', abort);
        reject(err);
      },
    );
  });
}

export function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The operation was aborted', 'AbortError');
}

/** `host:port/db` of a connection URL, never its user or password. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname || 'localhost'}${u.port ? `:${u.port}` : ''}${u.pathname && u.pathname !== '/' ? u.pathname : ''}`;
  } catch {
    return '(unparsable url)';
  }
}

/** Removes the URL's password (and the URL itself) from a driver message before it is logged. */
export function scrubSecrets(message: string, url: string | undefined): string {
  if (!url) return message;
  let out = message.split(url).join('<url>');
  try {
    const u = new URL(url);
    for (const secret of [u.password, decodeURIComponent(u.password)]) {
      if (secret.length >= 3) out = out.split(secret).join('***');
    }
  } catch {
    // an unparsable URL has no password we could find; the whole URL was removed above
  }
  return out;
}
