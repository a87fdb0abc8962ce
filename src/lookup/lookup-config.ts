import { formatAjvErrors } from '../config/format-ajv-errors.js';
import { validatorFor } from '../config/schema-ajv.js';
import { CallpopError } from '../model/errors.js';

/** The `lookup:` block (config.example.yaml). Defaults live here, applied by ajv `useDefaults`. */
export const lookupConfigSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    default_region: { type: 'string', pattern: '^[A-Za-z]{2}$', default: 'DE' },
    match_last_digits: { type: 'integer', minimum: 0, maximum: 15, default: 0 },
    strategy: { enum: ['first', 'merge'], default: 'first' },
    pop_deadline_ms: { type: 'integer', minimum: 1, maximum: 60000, default: 800 },
    source_timeout_ms: { type: 'integer', minimum: 1, maximum: 120000, default: 2000 },
    breaker: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        failure_threshold: { type: 'integer', minimum: 1, default: 5 },
        cooldown_ms: { type: 'integer', minimum: 1, default: 30000 },
      },
    },
    cache: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        enabled: { type: 'boolean', default: true },
        ttl_s: { type: 'number', exclusiveMinimum: 0, default: 300 },
        negative_ttl_s: { type: 'number', exclusiveMinimum: 0, default: 30 },
        max_stale_s: { type: 'number', minimum: 0, default: 3600 },
        max_entries: { type: 'integer', minimum: 1, default: 10000 },
      },
    },
    sources: {
      type: 'array',
      default: [],
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['connector'],
        properties: {
          connector: { type: 'string', minLength: 1 },
          timeout_ms: { type: 'integer', minimum: 1, maximum: 120000 },
          enrich_by: { type: 'string', minLength: 1 },
          breaker: {
            type: 'object',
            additionalProperties: false,
            properties: {
              failure_threshold: { type: 'integer', minimum: 1 },
              cooldown_ms: { type: 'integer', minimum: 1 },
            },
          },
        },
      },
    },
  },
} as const;

export interface BreakerConfig {
  failure_threshold: number;
  cooldown_ms: number;
}

export interface LookupSourceConfig {
  /** `connectors[].name` of the connector to ask. */
  connector: string;
  /** Overrides `source_timeout_ms` for this source. */
  timeout_ms?: number;
  /** Not a phone source: asked after the phone sources, with the best match's value of this field. */
  enrich_by?: string;
  breaker?: Partial<BreakerConfig>;
}

export interface LookupConfig {
  default_region: string;
  match_last_digits: number;
  strategy: 'first' | 'merge';
  pop_deadline_ms: number;
  source_timeout_ms: number;
  breaker: BreakerConfig;
  cache: { enabled: boolean; ttl_s: number; negative_ttl_s: number; max_stale_s: number; max_entries: number };
  /** Priority order, best first. Empty: every connector, in config order. */
  sources: LookupSourceConfig[];
}

/**
 * Validates a raw `lookup:` block (undefined = all defaults) and returns the typed, frozen
 * config. Throws CALLPOP_CONFIG_INVALID naming each key path.
 */
export function parseLookupConfig(raw: unknown, path = 'lookup'): LookupConfig {
  const validator = validatorFor(lookupConfigSchema);
  const config = raw === undefined || raw === null ? {} : structuredClone(raw);
  if (!validator(config)) {
    throw new CallpopError('CALLPOP_CONFIG_INVALID', formatAjvErrors(validator.errors ?? [], path).join('; '));
  }
  return deepFreeze(config as LookupConfig);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
