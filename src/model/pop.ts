import type { FieldValue } from './customer.js';

/**
 * What the mapping stage makes of a lookup result for one agent: the fields an agent sees.
 * The hub wraps it in a protocol message (docs/protocol.md).
 */
export interface PopPayload {
  /** Template that rendered it. */
  template: string;
  /** The mapped fields, in template order. */
  fields: Record<string, FieldValue>;
  /** Links built by the template (URL-encoded values), e.g. `crm_url`. */
  links: Record<string, string>;
}

/** One alternative customer when a number matches several records. */
export interface MatchSummary {
  source: string;
  id?: string;
  /** A short label for a picker, from the template's `label` (or the record id). */
  label: string;
}
