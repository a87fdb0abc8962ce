import { Ajv, type ValidateFunction } from 'ajv';
import { clientMessageSchemas, type ClientMessage } from '../../src/hub/protocol.js';

/**
 * FUZZ HOOK: a copy of the parsing in src/hub/hub-server.ts `onMessage` (JSON.parse, then
 * the validator looked up by `type` in an object built by Object.fromEntries, compiled
 * with the same ajv options). hub-server.ts is not ours to edit here; when its parsing is
 * moved into an exported function, import that instead of this copy so the fuzz drives
 * the real code.
 */
const ajv = new Ajv({ allErrors: false, strict: false });
const validators: Record<string, ValidateFunction> = Object.fromEntries(
  Object.entries(clientMessageSchemas).map(([type, schema]) => [type, ajv.compile(schema)]),
);

const KNOWN_TYPES: ReadonlySet<string> = new Set(Object.keys(clientMessageSchemas));

export type HubParse = { ok: true; message: ClientMessage } | { ok: false; error: string };

/** What onMessage does before acting on a message; errors are caught there, as here. */
export function parseClientMessage(text: string): HubParse {
  try {
    const parsed = JSON.parse(text) as unknown;
    const type = (parsed as { type?: unknown } | null)?.type;
    const validate = typeof type === 'string' ? validators[type] : undefined;
    if (!validate) throw new Error(`unknown message type ${JSON.stringify(type)}`);
    if (!validate(parsed)) throw new Error(`${type} is invalid`);
    return { ok: true, message: parsed as ClientMessage };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}

/** True when an accepted message is really one of the protocol's types (the property the fuzz checks). */
export function isKnownMessage(message: ClientMessage): boolean {
  return message !== null && typeof message === 'object' && typeof message.type === 'string' && KNOWN_TYPES.has(message.type);
}

/** Real client messages, the seeds the hub fuzz mutates (docs/protocol.md). */
export const HUB_SEEDS: readonly string[] = [
  '{"type":"hello","v":1,"token":"agent-1001-token"}',
  '{"type":"hello","v":1,"token":"t","resume":{"session":"s-1","seq":42}}',
  '{"type":"subscribe","agents":["1001","1002"]}',
  '{"type":"ack","seq":7}',
  '{"type":"pick","pbx":"pbx1","callId":"1700000000.1","agent":"1001","index":0}',
  '{"type":"constructor"}',
  '{"type":"toString","seq":1}',
];
