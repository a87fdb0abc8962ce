/** The `hub:` block: where agents connect, who may, and the hub's limits. Defaults live here. */
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
          token: { type: 'string', minLength: 8 },
          agents: { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1 },
          role: { type: 'string', default: 'agent' },
          admin: { type: 'boolean', default: false },
        },
      },
    },
    max_payload_bytes: { type: 'integer', minimum: 256, default: 65536 },
    max_buffered_bytes: { type: 'integer', minimum: 1024, default: 1048576 },
    heartbeat_ms: { type: 'integer', minimum: 1000, default: 30000 },
    hello_timeout_ms: { type: 'integer', minimum: 100, default: 10000 },
    replay_window_ms: { type: 'integer', minimum: 0, default: 120000 },
    replay_max_messages: { type: 'integer', minimum: 0, default: 200 },
    max_connections: { type: 'integer', minimum: 1, default: 20000 },
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
  max_connections: number;
}

