import { limitsSchema, reconnectSchema, type PbxLimitsConfig, type ReconnectConfig } from '../pbx-config-common.js';
/**
 * One `pbx[]` entry with `type: freeswitch`. Validated once at load by ajv (`useDefaults:
 * true`), so every default lives here and the adapter receives a complete, typed block.
 */

export interface FreeswitchAgentsConfig {
  /** Device (`user/1001`) or bare user (`1001`) -> agent extension. Checked before `pattern`. */
  map: Record<string, string>;
  /**
   * Regular expression on the device (`user/<user>`); capture group 1 is the extension.
   * A device matching neither `map` nor `pattern` is not an agent's (no pop).
   */
  pattern: string;
}

export interface FreeswitchConfig {
  id: string;
  type: 'freeswitch';
  host: string;
  port: number;
  /** Event Socket password; arrives already resolved from `${env:...}`. Never logged. */
  password: string;
  /**
   * `user@domain` of a directory user with an `esl-password`: log in with `userauth` (whose
   * `esl-allowed-events` / `esl-allowed-api` can limit what callpop may do) instead of the
   * global `auth` password.
   */
  username?: string;
  event_format: 'json' | 'plain';
  agents: FreeswitchAgentsConfig;
  /** Dialplan contexts of inbound trunk legs (`early` prefetch on them). */
  trunk_contexts: string[];
  /** mod_callcenter names queues `support@default`; strip the `@domain` part. */
  strip_queue_domain: boolean;
  /** Extra ESL `filter` lines sent after subscribing (advanced: a filter hides non-matching events). */
  filters: Array<{ header: string; value: string }>;
  limits: PbxLimitsConfig;
  reconnect: ReconnectConfig;
  timeouts: { connect_ms: number; auth_ms: number; command_ms: number; idle_ms: number };
}

export const freeswitchConfigSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'type', 'host', 'password'],
  properties: {
    id: { type: 'string', minLength: 1, pattern: '^[A-Za-z0-9_.-]+$' },
    type: { const: 'freeswitch' },
    host: { type: 'string', minLength: 1 },
    port: { type: 'integer', minimum: 1, maximum: 65535, default: 8021 },
    password: { type: 'string', minLength: 1, pattern: '^[^\\r\\n]*$', writeOnly: true },
    username: { type: 'string', pattern: '^[^@:\\s]+@[^@:\\s]+$' },
    event_format: { type: 'string', enum: ['json', 'plain'], default: 'json' },
    agents: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        map: {
          type: 'object',
          default: {},
          additionalProperties: { type: 'string', minLength: 1 },
        },
        pattern: { type: 'string', minLength: 1, default: '^user/([^@/]+)$' },
      },
    },
    trunk_contexts: {
      type: 'array',
      items: { type: 'string', minLength: 1 },
      default: ['public'],
    },
    strip_queue_domain: { type: 'boolean', default: true },
    filters: {
      type: 'array',
      default: [],
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['header', 'value'],
        properties: {
          header: { type: 'string', minLength: 1, pattern: '^[^\\s]+$' },
          value: { type: 'string', minLength: 1, pattern: '^[^\\r\\n]*$' },
        },
      },
    },
    // ESL frames are large (a plain event is ~3 KB, `show channels as json` can be MBs).
    limits: limitsSchema({ maxFrameBytes: 8_388_608, maxChannels: 50_000, frameBytesRange: [4096, 268_435_456] }),
    reconnect: reconnectSchema,
    timeouts: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        connect_ms: { type: 'integer', minimum: 100, maximum: 120000, default: 5000 },
        auth_ms: { type: 'integer', minimum: 100, maximum: 120000, default: 5000 },
        command_ms: { type: 'integer', minimum: 100, maximum: 300000, default: 10000 },
        /** FreeSWITCH sends HEARTBEAT every 20 s; silence past this means a dead link. 0 = off. */
        idle_ms: { type: 'integer', minimum: 0, maximum: 3600000, default: 65000 },
      },
    },
  },
} as const;
