/**
 * What connectors return. A record is the CRM's row/object as plain JSON-like data; the
 * mapping stage decides what an agent sees.
 */
/** A JSON-like value, so records survive the cache, Redis and the WebSocket unchanged. */
export type FieldValue = string | number | boolean | null | FieldValue[] | { [key: string]: FieldValue };

/** One CRM row or object, field name to value. */
export type CustomerRecord = { [field: string]: FieldValue };

/** One customer found by one source. */
export interface CustomerMatch {
  /** The connector instance name (config `connectors[].name`). */
  source: string;
  /** The CRM's id for the record, if the source declares one (used for links and write-back). */
  id?: string;
  record: CustomerRecord;
}

/** The merged outcome of a lookup, best match first. */
export interface LookupResult {
  /** The number as the PBX gave it. */
  number: string;
  /** Candidate forms that were searched (E.164, national, digits). */
  candidates: string[];
  matches: CustomerMatch[];
  /** Sources that failed or timed out, by name, with a secret-free reason. */
  errors: { source: string; code: string; message: string }[];
  /** True when the pop deadline passed before every source answered. */
  pending: boolean;
}

/** Which customer a call is about: the source and the CRM's id (what a call record names). */
export interface CustomerRef {
  source: string;
  id?: string;
}
