import { lookupConfigSchema } from '../lookup/lookup-config.js';
import { mappingConfigSchema } from '../mapping/mapping-config.js';
import { hubConfigSchema } from '../hub/hub-config.js';
import { pbxTypes } from '../pbx/pbx-registry.js';

/**
 * The whole config file. Each `pbx[]` entry and each `connectors[]` entry is checked a
 * second time against its own type's schema (the adapter's or connector's `configSchema`),
 * so a plugin owns its keys. Defaults live here, not in code.
 */
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
