import { limitsSchema, reconnectSchema, type PbxLimitsConfig, type ReconnectConfig } from '../pbx-config-common.js';
import { CallpopError } from '../../model/errors.js';

/**
 * Config of one `pbx[]` entry with `type: asterisk` (config.example.yaml documents
 * every key). Defaults live here, in the schema; ajv runs with `useDefaults: true`.
 */

export interface AsteriskAgentsConfig {
  /** Exact device -> agent extension, checked first (`PJSIP/alice: "1001"`). */
  map: Record<string, string>;
  /**
   * Regular expression a device must match to be an agent's; the first capture group
   * is the extension (the whole device when there is no group). Empty string: only `map`.
   */
  pattern: string;
}

export interface AsteriskTlsConfig {
  enabled: boolean;
  /** PEM file of the CA (or the self-signed cert) that signed Asterisk's certificate. */
  ca_file?: string;
  /** Name checked against the certificate; default the host. */
  servername?: string;
  /** Only for lab setups: accept any certificate. */
  reject_unauthorized: boolean;
}

export interface AsteriskConfig {
  type: 'asterisk';
  id: string;
  host: string;
  port: number;
  username: string;
  /** Already resolved from `${env:...}` by the config loader. Never logged. */
  secret: string;
  /** `plain` sends the secret; `md5` sends md5(challenge + secret) after `Action: Challenge`. */
  auth: 'plain' | 'md5';
  tls: AsteriskTlsConfig;
  /** `Events:` mask at login: `call,agent` is all the tracker needs and cuts VarSet/Newexten noise. */
  events: string;
  /** Per-session `Action: Filter` lines (needs `system` write permission); empty: none. */
  filters: string[];
  agents: AsteriskAgentsConfig;
  limits: PbxLimitsConfig;
  reconnect: ReconnectConfig;
  timeouts: {
    connect_ms: number;
    action_ms: number;
    /** Keep-alive: a `Ping` every this many ms; 0 disables it. */
    ping_interval_ms: number;
    /** No `Pong` within this: the peer is dead, reconnect. */
    ping_timeout_ms: number;
  };
}

/** PJSIP/SIP/IAX2 endpoints named by digits (`PJSIP/1001`); trunks (`PJSIP/trunk`) do not match. */
export const DEFAULT_AGENT_PATTERN = '^(?:PJSIP|SIP|IAX2)/(\\d{2,8})$';

export const asteriskConfigSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['type', 'id', 'host', 'username', 'secret'],
  properties: {
    type: { const: 'asterisk' },
    id: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.-]+$' },
    host: { type: 'string', minLength: 1 },
    port: { type: 'integer', minimum: 1, maximum: 65535, default: 5038 },
    username: { type: 'string', minLength: 1 },
    secret: { type: 'string', minLength: 1, writeOnly: true },
    auth: { enum: ['plain', 'md5'], default: 'md5' },
    tls: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        enabled: { type: 'boolean', default: false },
        ca_file: { type: 'string', minLength: 1 },
        servername: { type: 'string', minLength: 1 },
        reject_unauthorized: { type: 'boolean', default: true },
      },
    },
    events: { type: 'string', minLength: 1, default: 'call,agent' },
    filters: { type: 'array', items: { type: 'string', minLength: 1 }, maxItems: 100, default: [] },
    agents: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        map: {
          type: 'object',
          additionalProperties: { type: 'string', minLength: 1 },
          default: {},
        },
        pattern: { type: 'string', default: DEFAULT_AGENT_PATTERN },
      },
    },
    limits: limitsSchema({ maxFrameBytes: 65_536, maxChannels: 100_000, frameBytesRange: [1024, 16_777_216] }),
    reconnect: reconnectSchema,
    timeouts: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        connect_ms: { type: 'integer', minimum: 100, maximum: 300_000, default: 5_000 },
        action_ms: { type: 'integer', minimum: 100, maximum: 300_000, default: 10_000 },
        ping_interval_ms: { type: 'integer', minimum: 0, maximum: 3_600_000, default: 20_000 },
        ping_timeout_ms: { type: 'integer', minimum: 100, maximum: 300_000, default: 5_000 },
      },
    },
  },
} as const;

/**
 * Builds `agentFor(device)` from the `agents` block: the map first, then the pattern.
 * The pattern is compiled once; an invalid one is a config error at load.
 */
export function agentResolver(agents: AsteriskAgentsConfig, where = 'agents'): (device: string) => string | null {
  const map = new Map(Object.entries(agents.map));
  let pattern: RegExp | null = null;
  try {
    pattern = agents.pattern ? new RegExp(agents.pattern) : null;
  } catch (err) {
    throw new CallpopError('CALLPOP_CONFIG_INVALID', `${where}.pattern: not a valid regular expression (${(err as Error).message})`);
  }
  const cache = new Map<string, string | null>();
  return (device: string): string | null => {
    const known = cache.get(device);
    if (known !== undefined) return known;
    let extension = map.get(device) ?? null;
    if (extension === null && pattern) {
      const match = pattern.exec(device);
      // The first capture group that matched is the extension (patterns may have alternatives).
      if (match) extension = match.slice(1).find((group) => group !== undefined) ?? match[0];
    }
    // Devices are few (phones and trunks); still, bound the memo.
    if (cache.size >= 10_000) cache.clear();
    cache.set(device, extension);
    return extension;
  };
}
