/**
 * The `hub:` block: where agents connect, who may, and the hub's limits. Defaults live here.
 * Several limits exist only to keep one client, one token or one address from taking what
 * others need (docs/operations.md, "Limits that protect the daemon").
 */
export const hubConfigSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'integer', minimum: 0, maximum: 65535, default: 8080 },
    path: { type: 'string', pattern: '^/', default: '/ws' },
    agent_page: { type: 'boolean', default: true },
    tokens: {
      type: 'array',
      default: [],
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['token', 'agents'],
        properties: {
          name: { type: 'string' },
          token: { type: 'string', minLength: 8, writeOnly: true },
          agents: { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1 },
          role: { type: 'string', default: 'agent' },
          admin: { type: 'boolean', default: false },
          // Overrides max_sessions_per_token / max_sessions_per_wildcard_token for this token.
          max_sessions: { type: 'integer', minimum: 1 },
        },
      },
    },
    max_payload_bytes: { type: 'integer', minimum: 256, default: 65536 },
    max_buffered_bytes: { type: 'integer', minimum: 1024, default: 1048576 },
    heartbeat_ms: { type: 'integer', minimum: 1000, default: 30000 },
    // A browser sends hello in its first round trip; a socket silent for seconds is not an agent.
    hello_timeout_ms: { type: 'integer', minimum: 100, default: 3000 },
    replay_window_ms: { type: 'integer', minimum: 0, default: 120000 },
    replay_max_messages: { type: 'integer', minimum: 0, default: 200 },
    // 200 pops of ~1.3 KB fit; a session whose pops carry long lists keeps fewer, not more bytes.
    replay_max_bytes: { type: 'integer', minimum: 0, default: 262144 },
    // Authenticated connections only: sockets that have not said hello have their own budget.
    max_connections: { type: 'integer', minimum: 1, default: 20000 },
    max_unauthenticated: { type: 'integer', minimum: 1, default: 1000 },
    max_unauthenticated_per_address: { type: 'integer', minimum: 1, default: 50 },
    // Live plus detached sessions of one token. A token for named extensions serves one agent's
    // tabs and devices; a `*` token is often shared by a whole floor or wall boards.
    max_sessions_per_token: { type: 'integer', minimum: 1, default: 20 },
    max_sessions_per_wildcard_token: { type: 'integer', minimum: 1, default: 200 },
    // After auth_failures_max unknown tokens from one address within auth_failures_window_ms,
    // every hello from it is refused for auth_block_ms.
    auth_failures_max: { type: 'integer', minimum: 1, default: 20 },
    auth_failures_window_ms: { type: 'integer', minimum: 1000, default: 60000 },
    auth_block_ms: { type: 'integer', minimum: 1000, default: 60000 },
    // Browser origins allowed to open the WebSocket besides the agent page's own; "*" allows any.
    allowed_origins: { type: 'array', default: [], items: { type: 'string', pattern: '^(\\*|https?://[^\\s/;,\']+)$' } },
    // Origins allowed to embed the agent page in a frame (CSP frame-ancestors); empty: none.
    frame_ancestors: { type: 'array', default: [], items: { type: 'string', pattern: '^https?://[^\\s/;,\']+$' } },
  },
} as const;

export interface HubToken {
  name?: string;
  token: string;
  /** Extensions this token may subscribe to; `*` allows all. */
  agents: string[];
  role: string;
  /** May call admin HTTP endpoints (cache invalidation). */
  admin: boolean;
  /** Sessions (live plus detached) this token may hold; the hub-wide default when absent. */
  max_sessions?: number;
}

export interface HubConfig {
  host: string;
  port: number;
  path: string;
  agent_page: boolean;
  tokens: HubToken[];
  max_payload_bytes: number;
  max_buffered_bytes: number;
  heartbeat_ms: number;
  hello_timeout_ms: number;
  replay_window_ms: number;
  replay_max_messages: number;
  replay_max_bytes: number;
  max_connections: number;
  max_unauthenticated: number;
  max_unauthenticated_per_address: number;
  max_sessions_per_token: number;
  max_sessions_per_wildcard_token: number;
  auth_failures_max: number;
  auth_failures_window_ms: number;
  auth_block_ms: number;
  allowed_origins: string[];
  frame_ancestors: string[];
}
