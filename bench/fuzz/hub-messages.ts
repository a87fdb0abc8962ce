import { parseClientMessage as parseHubMessage } from '../../src/hub/client-message.js';
import { clientMessageSchemas, type ClientMessage } from '../../src/hub/protocol.js';

const KNOWN_TYPES: ReadonlySet<string> = new Set(Object.keys(clientMessageSchemas));

export type HubParse = { ok: true; message: ClientMessage } | { ok: false; error: string };

/** The hub's own parsing (src/hub/client-message.ts), with its thrown errors as values. */
export function parseClientMessage(text: string): HubParse {
  try {
    return { ok: true, message: parseHubMessage(text) };
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
