import type { ValidateFunction } from 'ajv';
import { validatorFor } from '../config/schema-ajv.js';
import { clientMessageSchemas, type ClientMessage } from './protocol.js';

/**
 * A Map, not an object: a client-chosen `type` such as `constructor` or `toString` must
 * not find an inherited property and pass as a validator.
 */
const validators: ReadonlyMap<string, ValidateFunction> = new Map(
  Object.entries(clientMessageSchemas).map(([type, schema]) => [type, validatorFor(schema)]),
);

/**
 * Reads one client text frame (docs/protocol.md). Throws an Error whose message says what is
 * wrong, for the `error` answer; never returns anything but one of the protocol's messages.
 */
export function parseClientMessage(text: string): ClientMessage {
  const parsed = JSON.parse(text) as unknown;
  const type = (parsed as { type?: unknown } | null)?.type;
  const validate = typeof type === 'string' ? validators.get(type) : undefined;
  if (!validate) throw new Error(`unknown message type ${JSON.stringify(type)?.slice(0, 64)}; expected hello, subscribe, ack or pick`);
  if (!validate(parsed)) {
    const e = validate.errors?.[0];
    throw new Error(`${type}${e?.instancePath ?? ''} ${e?.message ?? 'is invalid'}`);
  }
  return parsed as ClientMessage;
}
