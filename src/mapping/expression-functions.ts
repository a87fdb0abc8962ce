import jsonata from 'jsonata';
import type { TableValue } from './mapping-config.js';

/**
 * What an expression may call and read, beyond the record: JSONata's built-in functions,
 * callpop's own (`$table`, `$formatDate`), and the variables bound per render (`$call`, ...).
 */

/** JSONata 2.2 built-ins (its static frame, plus `$now`/`$millis` bound per expression). */
export const JSONATA_FUNCTIONS: readonly string[] = [
  'sum', 'count', 'max', 'min', 'average', 'string', 'substring', 'substringBefore', 'substringAfter',
  'lowercase', 'uppercase', 'length', 'trim', 'pad', 'match', 'contains', 'replace', 'split', 'join',
  'formatNumber', 'formatBase', 'formatInteger', 'parseInteger', 'number', 'floor', 'ceil', 'round',
  'abs', 'sqrt', 'power', 'random', 'boolean', 'not', 'map', 'zip', 'filter', 'single', 'reduce', 'sift',
  'keys', 'lookup', 'append', 'exists', 'spread', 'merge', 'reverse', 'each', 'error', 'assert', 'type',
  'sort', 'shuffle', 'distinct', 'base64encode', 'base64decode', 'encodeUrlComponent', 'encodeUrl',
  'decodeUrlComponent', 'decodeUrl', 'eval', 'toMillis', 'fromMillis', 'clone', 'now', 'millis',
];

/**
 * Built-ins refused at compile: `$eval` turns text into an expression, so `$eval($call.caller.name)`
 * would run the caller's SIP display name as code.
 */
export const FORBIDDEN_FUNCTIONS: ReadonlyMap<string, string> = new Map([
  ['eval', 'it evaluates text as an expression, and record or caller text must stay data'],
]);

/** callpop's functions, registered in every expression. */
export const MAPPING_FUNCTIONS: readonly string[] = ['table', 'formatDate'];

/** Variables bound on every evaluation (see ExpressionBindings). */
export const MAPPING_VARIABLES: readonly string[] = ['call', 'matches', 'record', 'source', 'id'];

export type Tables = ReadonlyMap<string, ReadonlyMap<string, TableValue>>;

/**
 * `$table('tiers', tier[, fallback])`: the table's value for a key; else `fallback`, else
 * nothing (so the field's `default` applies). `$table('tiers', tier, tier)` shows unknown codes as they are.
 */
export function tableFunction(tables: Tables) {
  return function table(name: unknown, key: unknown, fallback?: unknown): unknown {
    if (typeof name !== 'string') return fallback;
    const t = tables.get(name);
    if (t === undefined) return fallback;
    const one = (k: unknown): unknown =>
      (typeof k === 'string' || typeof k === 'number' || typeof k === 'boolean' ? t.get(String(k)) : undefined) ?? fallback;
    if (Array.isArray(key)) return key.map(one).filter((v) => v !== undefined);
    return one(key);
  };
}

// SQL drivers return `2024-03-05 10:00:00`, which `$toMillis` refuses (not ISO 8601).
const SQL_DATETIME = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)$/;
const fromMillis = jsonata('$fromMillis($ms, $picture, $tz)');

/** Milliseconds since the epoch from epoch ms, ISO 8601 text or SQL datetime text (read as UTC). */
export function toMillis(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  const sql = SQL_DATETIME.exec(value.trim());
  const ms = sql === null ? Date.parse(value) : Date.parse(`${sql[1]}T${sql[2]}Z`);
  return Number.isNaN(ms) ? undefined : ms;
}

/**
 * `$formatDate(value, picture?, timezone?)`: formats a date with JSONata's `$fromMillis`
 * picture syntax (`[D01].[M01].[Y0001]`), accepting the forms CRMs return. Nothing for an
 * unreadable date, so the field's `default` applies.
 */
export async function formatDate(value: unknown, picture?: unknown, timezone?: unknown): Promise<unknown> {
  const ms = toMillis(value);
  if (ms === undefined) return undefined;
  return fromMillis.evaluate(undefined, {
    ms,
    picture: typeof picture === 'string' ? picture : undefined,
    tz: typeof timezone === 'string' ? timezone : undefined,
  });
}
