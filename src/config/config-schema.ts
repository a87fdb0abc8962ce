import { lookupConfigSchema } from '../lookup/lookup-config.js';
import { mappingConfigSchema } from '../mapping/mapping-config.js';
import { pbxTypes } from '../pbx/pbx-registry.js';

/**
 * The whole config file. Each `pbx[]` entry and each `connectors[]` entry is checked a
 * second time against its own type's schema (the adapter's or connector's `configSchema`),
 * so a plugin owns its keys. Defaults live here, not in code.
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

export const storeConfigSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    file: { type: 'string', default: 'callpop.sqlite' },
    keep_days: { type: 'integer', minimum: 1, default: 90 },
    writeback: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        connectors: { type: 'array', items: { type: 'string' }, default: [] },
        retry_initial_ms: { type: 'integer', minimum: 10, default: 1000 },
        retry_max_ms: { type: 'integer', minimum: 100, default: 300000 },
        timeout_ms: { type: 'integer', minimum: 10, default: 10000 },
      },
    },
  },
} as const;

/**
 * The top-level schema for the PBX types of a registry: `pbx[].type` may only name a
 * registered adapter, whose own schema then checks the rest of the entry.
 */
export function configSchemaFor(types: readonly string[]) {
  return {
    type: 'object',
    additionalProperties: false,
    required: ['pbx', 'connectors'],
    properties: {
      log: {
        type: 'object',
        additionalProperties: false,
        default: {},
        properties: {
          level: { enum: ['trace', 'debug', 'info', 'warn', 'error', 'silent'], default: 'info' },
        },
      },
      pbx: {
        type: 'array',
        minItems: 1,
        items: {
          type: 'object',
          required: ['id', 'type'],
          properties: {
            id: { type: 'string', pattern: '^[A-Za-z0-9_.-]+$' },
            type: { enum: [...types] },
          },
        },
      },
      connectors: {
        type: 'array',
        minItems: 1,
        items: {
          type: 'object',
          required: ['name', 'type'],
          properties: {
            name: { type: 'string', pattern: '^[A-Za-z0-9_.-]+$' },
            type: { type: 'string', minLength: 1 },
          },
        },
      },
      lookup: lookupConfigSchema,
      mapping: mappingConfigSchema,
      hub: hubConfigSchema,
      store: storeConfigSchema,
    },
  } as const;
}

/** The schema for the built-in PBX registry (src/pbx/pbx-registry.ts). */
export const configSchema = configSchemaFor(pbxTypes());
