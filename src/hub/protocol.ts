import type { CallDirection, Party } from '../model/call-event.js';
import type { FieldValue } from '../model/customer.js';
import type { MatchSummary } from '../model/pop.js';

/**
 * Pop protocol, version 1 (docs/protocol.md). JSON text frames over one WebSocket.
 * Every server message carries `v` and a per-session `seq` that grows by one per message,
 * so a client can `resume` after a reconnect without gaps or duplicates.
 */
export const PROTOCOL_VERSION = 1;

// ---- client -> server -------------------------------------------------------------------

export interface HelloMessage {
  type: 'hello';
  v: number;
  token: string;
  /** Resume an earlier session: messages after `seq` are replayed if still buffered. */
  resume?: { session: string; seq: number };
}

export interface SubscribeMessage {
  type: 'subscribe';
  /** Agent extensions (the token must allow each). */
  agents: string[];
}

export interface AckMessage {
  type: 'ack';
  seq: number;
}

/** The agent chose another of the customers a shared number matched (`pop.matches[index]`). */
export interface PickMessage {
  type: 'pick';
  pbx: string;
  callId: string;
  agent: string;
  index: number;
}

export type ClientMessage = HelloMessage | SubscribeMessage | AckMessage | PickMessage;

const agentList = { type: 'array', minItems: 1, maxItems: 500, items: { type: 'string', minLength: 1, maxLength: 64 } };

/** JSON Schema per client message; the hub rejects anything else with an `error`. */
export const clientMessageSchemas: Record<ClientMessage['type'], object> = {
  hello: {
    type: 'object',
    additionalProperties: false,
    required: ['type', 'v', 'token'],
    properties: {
      type: { const: 'hello' },
      v: { type: 'integer' },
      token: { type: 'string', maxLength: 4096 },
      resume: {
        type: 'object',
        additionalProperties: false,
        required: ['session', 'seq'],
        properties: { session: { type: 'string', maxLength: 128 }, seq: { type: 'integer', minimum: 0 } },
      },
    },
  },
  subscribe: {
    type: 'object',
    additionalProperties: false,
    required: ['type', 'agents'],
    properties: { type: { const: 'subscribe' }, agents: agentList },
  },
  ack: {
    type: 'object',
    additionalProperties: false,
    required: ['type', 'seq'],
    properties: { type: { const: 'ack' }, seq: { type: 'integer', minimum: 0 } },
  },
  pick: {
    type: 'object',
    additionalProperties: false,
    required: ['type', 'pbx', 'callId', 'agent', 'index'],
    properties: {
      type: { const: 'pick' },
      pbx: { type: 'string', maxLength: 128 },
      callId: { type: 'string', maxLength: 256 },
      agent: { type: 'string', minLength: 1, maxLength: 64 },
      index: { type: 'integer', minimum: 0, maximum: 1000 },
    },
  },
};

// ---- server -> client -------------------------------------------------------------------

interface Envelope {
  v: number;
  seq: number;
}

export interface WelcomeMessage extends Envelope {
  type: 'welcome';
  session: string;
  resumed: boolean;
  /** Extensions this token may subscribe to (`*` = any). */
  allowed: string[];
  heartbeatMs: number;
}

export interface SubscribedMessage extends Envelope {
  type: 'subscribed';
  agents: string[];
}

/** The screen pop for one agent leg. */
export interface PopMessage extends Envelope {
  type: 'pop';
  callId: string;
  pbx: string;
  agent: string;
  direction: CallDirection;
  caller: Party;
  /** The dialled party for outbound calls. */
  callee: Party;
  anonymous: boolean;
  queue: string | null;
  did: string | null;
  transferredFrom: string | null;
  /** True when the pop deadline passed before every CRM answered: an `update` follows. */
  pending: boolean;
  template: string;
  fields: Record<string, FieldValue>;
  links: Record<string, string>;
  /** Every customer the number matched, best first. */
  matches: MatchSummary[];
  /** Index in `matches` of the customer the fields show (0 unless the agent picked another). */
  selected: number;
  at: number;
}

/** Replaces the fields of an earlier pop (same callId/agent) once a late lookup completes. */
export interface UpdateMessage extends Omit<PopMessage, 'type'> {
  type: 'update';
}

export interface CallStateMessage extends Envelope {
  type: 'call';
  callId: string;
  agent: string;
  state: 'answered' | 'ended' | 'missed' | 'transferred';
  cause: string | null;
  at: number;
}

export interface ErrorMessage extends Envelope {
  type: 'error';
  code: string;
  message: string;
}

export type AgentMessage = PopMessage | UpdateMessage | CallStateMessage;
export type ServerMessage = WelcomeMessage | SubscribedMessage | AgentMessage | ErrorMessage;

/** A message before the hub stamps it for one session. */
export type Unstamped<T> = T extends Envelope ? Omit<T, 'v' | 'seq'> : never;
