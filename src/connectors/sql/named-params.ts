/**
 * `:name` parameters in a configured SQL statement -> the driver's bound-parameter syntax.
 *
 * The config author writes one spelling (`WHERE phone = :number`) for every driver; this
 * tokenizer finds the parameters while skipping everything that may contain a colon without
 * being one: string literals, quoted identifiers, comments, PostgreSQL `::` casts and
 * dollar-quoted bodies. Values are never put into the text: they travel as bound parameters.
 */

export type SqlDialect = 'sqlite' | 'postgres' | 'mysql';

export interface CompiledSql {
  /** The statement in the driver's syntax: `:name` (sqlite), `$1` (pg), `?` (mysql). */
  text: string;
  /** Distinct parameter names, in order of first use. */
  names: string[];
  /**
   * For positional drivers: the name bound at each position (mysql repeats a name used twice,
   * pg numbers each distinct name once). Empty for sqlite, which binds by name.
   */
  positions: string[];
}

const IDENT_START = /[A-Za-z_]/;
const IDENT_PART = /[A-Za-z0-9_]/;

export function compileNamedSql(sql: string, dialect: SqlDialect): CompiledSql {
  const names: string[] = [];
  const positions: string[] = [];
  let out = '';
  let i = 0;
  const n = sql.length;

  const copyUntil = (end: number): void => {
    out += sql.slice(i, end);
    i = end;
  };

  while (i < n) {
    const ch = sql[i]!;
    const next = sql[i + 1];

    // Comments: `-- ...` to end of line, `/* ... */`, and MySQL's `# ...`.
    if (ch === '-' && next === '-') {
      const end = sql.indexOf('\n', i);
      copyUntil(end === -1 ? n : end);
      continue;
    }
    if (ch === '#' && dialect === 'mysql') {
      const end = sql.indexOf('\n', i);
      copyUntil(end === -1 ? n : end);
      continue;
    }
    if (ch === '/' && next === '*') {
      const end = sql.indexOf('*/', i + 2);
      copyUntil(end === -1 ? n : end + 2);
      continue;
    }
    // String literals and quoted identifiers: '...', "...", `...` (a doubled quote is an
    // escaped quote). MySQL also escapes with backslash inside quotes, and so do pg E'...'.
    if (ch === "'" || ch === '"' || ch === '`') {
      const backslash = dialect === 'mysql' || (ch === "'" && /[eE]/.test(sql[i - 1] ?? '') && !IDENT_PART.test(sql[i - 2] ?? ''));
      copyUntil(endOfQuoted(sql, i, ch, backslash && ch !== '`'));
      continue;
    }
    // PostgreSQL dollar quoting: $$...$$ or $tag$...$tag$.
    if (ch === '$' && dialect === 'postgres') {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i));
      if (tag) {
        const end = sql.indexOf(tag[0], i + tag[0].length);
        copyUntil(end === -1 ? n : end + tag[0].length);
        continue;
      }
    }
    if (ch === ':') {
      // `::type` is a PostgreSQL cast, never a parameter.
      if (next === ':') {
        copyUntil(i + 2);
        continue;
      }
      if (next !== undefined && IDENT_START.test(next) && !IDENT_PART.test(sql[i - 1] ?? ' ')) {
        let end = i + 2;
        while (end < n && IDENT_PART.test(sql[end]!)) end++;
        const name = sql.slice(i + 1, end);
        if (!names.includes(name)) names.push(name);
        if (dialect === 'postgres') out += `$${names.indexOf(name) + 1}`;
        else if (dialect === 'mysql') {
          out += '?';
          positions.push(name);
        } else out += `:${name}`;
        i = end;
        continue;
      }
    }
    out += ch;
    i++;
  }
  if (dialect === 'postgres') positions.push(...names);
  return { text: out, names, positions };
}

/** Index just past the closing quote (or the end of the text when it is unterminated). */
function endOfQuoted(sql: string, start: number, quote: string, backslashEscapes: boolean): number {
  let i = start + 1;
  while (i < sql.length) {
    const ch = sql[i];
    if (backslashEscapes && ch === '\\') {
      i += 2;
      continue;
    }
    if (ch === quote) {
      if (sql[i + 1] === quote) {
        i += 2;
        continue;
      }
      return i + 1;
    }
    i++;
  }
  return sql.length;
}
