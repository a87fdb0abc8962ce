import type { FieldValue } from '../model/customer.js';

/**
 * Turns what a path or an expression produced into a plain JSON FieldValue: JSONata
 * sequences (arrays carrying a `sequence` flag) become plain arrays, `undefined` items are
 * dropped, and functions are refused (an expression like `$uppercase` without parentheses).
 * Copies, so a pop never shares objects with the cached record.
 */
export function toFieldValue(value: unknown): FieldValue | undefined {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      if (!Number.isFinite(value)) throw new Error(`result is not a finite number (${String(value)})`);
      return value;
    case 'undefined':
      return undefined;
    case 'object': {
      if (value === null) return null;
      if (Array.isArray(value)) {
        const out: FieldValue[] = [];
        for (const item of value) {
          const v = toFieldValue(item);
          if (v !== undefined) out.push(v);
        }
        return out;
      }
      if (value instanceof Date) return value.toISOString();
      const out: { [key: string]: FieldValue } = {};
      for (const key of Object.keys(value)) {
        if (key === '__proto__') continue; // would set the copy's prototype instead of a key
        const v = toFieldValue((value as Record<string, unknown>)[key]);
        if (v !== undefined) out[key] = v;
      }
      return out;
    }
    default:
      throw new Error(`result is a ${typeof value}, not data (a function name without parentheses?)`);
  }
}

/** Missing for a pop: absent, null, or a blank string (`first & ' ' & last` with neither). */
export function isMissing(value: FieldValue | undefined): value is undefined | null | '' {
  return value === undefined || value === null || (typeof value === 'string' && value.trim() === '');
}

/** JSONata's `$boolean` rules, so `when: tickets` means "has tickets" as it would in an expression. */
export function isTruthy(value: unknown): boolean {
  if (value === undefined || value === null) return false;
  if (Array.isArray(value)) return value.some(isTruthy);
  switch (typeof value) {
    case 'string':
      return value.length > 0;
    case 'number':
      return value !== 0;
    case 'boolean':
      return value;
    case 'object':
      return Object.keys(value).length > 0;
    default:
      return false;
  }
}

/**
 * The record as expressions see it: nulls removed, so SQL NULL columns behave as missing
 * (`first & ' ' & last` gives `Ann ` rather than `Ann null`). Returns the same object when it
 * holds no null, which is the common case, so most renders copy nothing.
 */
export function withoutNulls<T>(value: T): T {
  return hasNull(value) ? (dropNulls(value) as T) : value;
}

function hasNull(value: unknown): boolean {
  if (value === null) return true;
  if (typeof value !== 'object') return false;
  if (Array.isArray(value)) return value.some(hasNull);
  for (const key in value) {
    if (Object.prototype.hasOwnProperty.call(value, key) && hasNull((value as Record<string, unknown>)[key])) return true;
  }
  return false;
}

function dropNulls(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.filter((v) => v !== null).map(dropNulls);
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    if (key === '__proto__') continue; // would set the copy's prototype instead of a key
    const v = (value as Record<string, unknown>)[key];
    if (v !== null) out[key] = dropNulls(v);
  }
  return out;
}
