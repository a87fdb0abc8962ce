import { Ajv, type ValidateFunction } from 'ajv';
import { formatAjvErrors } from './format-ajv-errors.js';

/**
 * The one ajv instance callpop compiles every config schema with (the file, PBX entries,
 * connectors, lookup). Defaults live in the schemas and are applied here (`useDefaults`),
 * nowhere else. ajv caches compiled validators by schema object, so compiling the same
 * schema object again is cheap (a schema built per call is compiled per call: cache it).
 * `verbose` puts the parent schema on each error so an unknown key's message can list the
 * keys that are allowed there; errors then also carry the data, so they are only ever
 * formatted (formatAjvErrors), never logged whole.
 */
export const schemaAjv = new Ajv({ allErrors: true, useDefaults: true, strict: false, verbose: true });

/** The validator for `schema` (compiled once per schema object). */
export function validatorFor(schema: object): ValidateFunction {
  return schemaAjv.compile(schema);
}

/**
 * A copy of `value` with the schema's defaults filled in, for code (tests, the demo, the
 * simulators) that builds a config block by hand. Throws when the value does not match.
 */
export function withSchemaDefaults<T>(schema: object, value: unknown = {}): T {
  const copy = structuredClone(value ?? {});
  const validate = validatorFor(schema);
  if (!validate(copy)) throw new Error(`invalid config block: ${formatAjvErrors(validate.errors ?? []).join('; ')}`);
  return copy as T;
}
