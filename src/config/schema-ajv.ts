import { Ajv, type ValidateFunction } from 'ajv';

/**
 * The one ajv instance callpop compiles every schema with (config, connectors, PBX entries,
 * protocol messages). Defaults live in the schemas and are applied here (`useDefaults`),
 * nowhere else. ajv caches compiled validators by schema object, so compiling the same
 * schema again is cheap.
 */
export const schemaAjv = new Ajv({ allErrors: true, useDefaults: true, strict: false });

/** The validator for `schema` (compiled once per schema object). */
export function validatorFor(schema: object): ValidateFunction {
  return schemaAjv.compile(schema);
}

/**
 * A copy of `value` with the schema's defaults filled in, for code (tests, the demo) that
 * builds a config block by hand. Throws when the value does not match the schema.
 */
export function withSchemaDefaults<T>(schema: object, value: unknown = {}): T {
  const copy = structuredClone(value ?? {});
  const validate = validatorFor(schema);
  if (!validate(copy)) {
    const first = validate.errors?.[0];
    throw new Error(`invalid config block: ${first?.instancePath || '(top)'} ${first?.message ?? 'is invalid'}`);
  }
  return copy as T;
}
