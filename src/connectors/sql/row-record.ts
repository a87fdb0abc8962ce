import type { CustomerRecord, FieldValue } from '../../model/customer.js';

/**
 * A database row -> a JSON-like CustomerRecord. Drivers hand back Dates, bigints, Buffers,
 * pg json objects, NaN...; each is coerced to a FieldValue or dropped, and every drop is
 * reported so the connector can warn (never crash) about a malformed row.
 */

/** Nested json columns deeper than this are cut off (a record is for display, not a document store). */
const MAX_DEPTH = 8;

export interface RowProblem {
  field: string;
  problem: string;
}

export interface CoercedRow {
  record: CustomerRecord;
  problems: RowProblem[];
}

/** Returns null when the row is not an object at all (the caller skips it). */
export function rowToRecord(row: unknown): CoercedRow | null {
  if (row === null || typeof row !== 'object' || Array.isArray(row)) return null;
  const record: CustomerRecord = {};
  const problems: RowProblem[] = [];
  for (const [field, value] of Object.entries(row as Record<string, unknown>)) {
    const coerced = toFieldValue(value, 0);
    if (coerced.ok) record[field] = coerced.value;
    else problems.push({ field, problem: coerced.problem });
  }
  return { record, problems };
}

/** The CRM id from the record's id field: strings and integers only. */
export function recordId(record: CustomerRecord, idField: string): string | undefined {
  const value = record[idField];
  if (typeof value === 'string' && value.length > 0) return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

type Coerced = { ok: true; value: FieldValue } | { ok: false; problem: string };

function toFieldValue(value: unknown, depth: number): Coerced {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return { ok: true, value };
    case 'number':
      return Number.isFinite(value) ? { ok: true, value } : { ok: true, value: null };
    case 'bigint':
      return {
        ok: true,
        value: value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(value) : value.toString(),
      };
    case 'undefined':
      return { ok: true, value: null };
    case 'object': {
      if (value === null) return { ok: true, value: null };
      if (value instanceof Date) return { ok: true, value: Number.isNaN(value.getTime()) ? null : value.toISOString() };
      if (value instanceof Uint8Array) return { ok: false, problem: 'binary value' };
      if (depth >= MAX_DEPTH) return { ok: false, problem: 'nested too deeply' };
      if (Array.isArray(value)) {
        const out: FieldValue[] = [];
        for (const item of value) {
          const c = toFieldValue(item, depth + 1);
          if (!c.ok) return c;
          out.push(c.value);
        }
        return { ok: true, value: out };
      }
      const out: { [key: string]: FieldValue } = {};
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        const c = toFieldValue(v, depth + 1);
        if (!c.ok) return c;
        out[k] = c.value;
      }
      return { ok: true, value: out };
    }
    default:
      return { ok: false, problem: `${typeof value} value` };
  }
}
