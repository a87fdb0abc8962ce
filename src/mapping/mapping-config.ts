import type { CallDirection } from '../model/call-event.js';
import type { FieldValue } from '../model/customer.js';

/**
 * The `mapping:` config block: templates that turn a customer record into a pop.
 * docs/mapping.md is the user guide; config.example.yaml shows every key.
 */

/** How a masked value is shown. `last4`: `****1234`; `email`: `j***@example.com`. */
export type MaskStyle = 'all' | 'last4' | 'last2' | 'first1' | 'email';
export const MASK_STYLES: readonly MaskStyle[] = ['all', 'last4', 'last2', 'first1', 'email'];

/** Options every field kind accepts (some are refused by compileMapping where they make no sense). */
export interface FieldOptions {
  /** JSONata condition; the field (or group) is shown only when it is truthy. */
  when?: string;
  /** Shown when the value is missing, null or a blank string. */
  default?: FieldValue;
  /** Keeps at most this many items of a list value. */
  limit?: number;
  /** Masks the value (for every role, or only the roles in `mask_for`). */
  mask?: MaskStyle;
  /** Roles that see the masked value; other roles see it in clear. Default: every role. */
  mask_for?: string[];
  /** Roles that never receive this field (it is left out of their pop). */
  hide_from?: string[];
}

/** A record path (`address.city`, `orders[0].total`) — the same as a plain string. */
export interface PathField extends FieldOptions {
  path: string;
}
/** A fixed value. */
export interface ValueField extends FieldOptions {
  value: FieldValue;
}
/** A JSONata expression; the record is the root, `$call`, `$matches`... are bound. */
export interface ExprField extends FieldOptions {
  expr: string;
}
/** A nested block of fields, e.g. a VIP block shown `when: tier = 'V'`. */
export interface GroupField extends FieldOptions {
  group: FieldsConfig;
}
/** A list (last orders, open tickets): each item mapped through `fields`. */
export interface ListField extends FieldOptions {
  /** Where the items come from: a record path, or `{ expr }`. */
  list: string | { expr: string };
  /** JSONata condition per item (the item is the root). */
  where?: string;
  /** Fields of each item (the item is the root). Without it, items are passed as they are. */
  fields?: FieldsConfig;
}

export type FieldConfig = string | PathField | ValueField | ExprField | GroupField | ListField;
/** Field name -> field; the order of the keys is the order of the pop. */
export type FieldsConfig = Record<string, FieldConfig>;

/** When a template is chosen automatically. Every key given must match (a list matches any of its values). */
export interface TemplateMatch {
  queues?: string[];
  /** Skill names from `mapping.skills`; matches when the call's queue belongs to one of them. */
  skills?: string[];
  /** Agent roles (from the hub token). */
  roles?: string[];
  /** Dialled numbers; compared by digits only. */
  dids?: string[];
  directions?: CallDirection[];
}

export interface TemplateConfig {
  name: string;
  /** Picker label for one match, with `{path}` placeholders, e.g. `{first_name} {last_name} ({company})`. */
  label?: string;
  match?: TemplateMatch;
  fields: FieldsConfig;
  /** Link name -> URL with `{path}` placeholders (URL-encoded). */
  links?: Record<string, string>;
}

export type TableValue = string | number | boolean;

export interface MappingConfig {
  /** Template used when none matches. Default `default`. */
  default_template?: string;
  /** Role assumed when the agent's token carries none. Default `agent` (the most restricted usual role). */
  default_role?: string;
  /** Hard cap on the items of any list in a pop. Default 50. */
  max_list_items?: number;
  /** Per-expression evaluation budget in ms (JSONata guardrail). Default 100. */
  expression_timeout_ms?: number;
  /** Per-expression maximum evaluation depth (JSONata guardrail). Default 200. */
  expression_max_depth?: number;
  /** Small value tables for `$table('name', key)`. */
  tables?: Record<string, Record<string, TableValue>>;
  /** Skill group -> queues, for `match.skills`. */
  skills?: Record<string, string[]>;
  templates: TemplateConfig[];
}

/** The defaults, referenced by the schema below and by compileMapping for unvalidated input. */
export const MAPPING_DEFAULTS = {
  default_template: 'default',
  default_role: 'agent',
  max_list_items: 50,
  expression_timeout_ms: 100,
  expression_max_depth: 200,
} as const;

/** Deepest nesting of groups/lists: top-level fields -> group or list -> group or list -> leaf fields. */
export const MAX_FIELD_DEPTH = 3;

export const FIELD_NAME_PATTERN = '^[A-Za-z_][A-Za-z0-9_-]{0,63}$';
export const TEMPLATE_NAME_PATTERN = '^[A-Za-z0-9_.-]{1,64}$';

const roleList = { type: 'array', items: { type: 'string', minLength: 1 } };
/** Any JSON value (a YAML scalar, list or map). Written without a union `type` so ajv strict mode accepts it. */
const fieldValue = {};
const optionProps = {
  when: { type: 'string', minLength: 1 },
  default: fieldValue,
  limit: { type: 'integer', minimum: 1 },
  mask: { enum: [...MASK_STYLES] },
  mask_for: roleList,
  hide_from: roleList,
};

/**
 * The schema of a `fields` map. Built by unrolling to MAX_FIELD_DEPTH instead of using `$ref`,
 * so the block can be embedded anywhere in the full config schema without a `$id`.
 */
function fieldsSchema(depth: number): object {
  const leafKinds: object[] = [
    { type: 'string', minLength: 1 },
    { type: 'object', required: ['path'], additionalProperties: false, properties: { path: { type: 'string', minLength: 1 }, ...optionProps } },
    { type: 'object', required: ['value'], additionalProperties: false, properties: { value: fieldValue, ...optionProps } },
    { type: 'object', required: ['expr'], additionalProperties: false, properties: { expr: { type: 'string', minLength: 1 }, ...optionProps } },
  ];
  const { when, limit, hide_from } = optionProps;
  const nested: object[] =
    depth <= 1
      ? []
      : [
          { type: 'object', required: ['group'], additionalProperties: false, properties: { group: fieldsSchema(depth - 1), when, hide_from } },
          {
            type: 'object',
            required: ['list'],
            additionalProperties: false,
            properties: {
              list: {
                oneOf: [
                  { type: 'string', minLength: 1 },
                  { type: 'object', required: ['expr'], additionalProperties: false, properties: { expr: { type: 'string', minLength: 1 } } },
                ],
              },
              where: { type: 'string', minLength: 1 },
              fields: fieldsSchema(depth - 1),
              when,
              limit,
              hide_from,
              default: fieldValue,
            },
          },
        ];
  return {
    type: 'object',
    minProperties: 1,
    propertyNames: { pattern: FIELD_NAME_PATTERN, not: { enum: ['__proto__', 'constructor', 'prototype'] } },
    additionalProperties: { oneOf: [...leafKinds, ...nested] },
  };
}

const stringList = { type: 'array', items: { type: 'string', minLength: 1 } };

/** JSON Schema (draft-07, ajv with `useDefaults: true`) of the `mapping:` block. */
export const mappingConfigSchema: object = {
  type: 'object',
  required: ['templates'],
  additionalProperties: false,
  properties: {
    default_template: { type: 'string', pattern: TEMPLATE_NAME_PATTERN, default: MAPPING_DEFAULTS.default_template },
    default_role: { type: 'string', minLength: 1, default: MAPPING_DEFAULTS.default_role },
    max_list_items: { type: 'integer', minimum: 1, maximum: 1000, default: MAPPING_DEFAULTS.max_list_items },
    expression_timeout_ms: { type: 'integer', minimum: 1, maximum: 10000, default: MAPPING_DEFAULTS.expression_timeout_ms },
    expression_max_depth: { type: 'integer', minimum: 10, maximum: 10000, default: MAPPING_DEFAULTS.expression_max_depth },
    tables: {
      type: 'object',
      default: {},
      additionalProperties: {
        type: 'object',
        additionalProperties: { anyOf: [{ type: 'string' }, { type: 'number' }, { type: 'boolean' }] },
      },
    },
    skills: { type: 'object', default: {}, additionalProperties: stringList },
    templates: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['name', 'fields'],
        additionalProperties: false,
        properties: {
          name: { type: 'string', pattern: TEMPLATE_NAME_PATTERN },
          label: { type: 'string', minLength: 1 },
          match: {
            type: 'object',
            additionalProperties: false,
            properties: {
              queues: stringList,
              skills: stringList,
              roles: stringList,
              dids: stringList,
              directions: { type: 'array', items: { enum: ['inbound', 'outbound', 'internal'] } },
            },
          },
          fields: fieldsSchema(MAX_FIELD_DEPTH),
          links: { type: 'object', additionalProperties: { type: 'string', minLength: 1 } },
        },
      },
    },
  },
};
