import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ErrorObject } from 'ajv';
import { formatAjvErrors } from '../config/format-ajv-errors.js';
import { validatorFor } from '../config/schema-ajv.js';
import { CallpopError, describeError } from '../model/errors.js';
import type { Connector, ConnectorContext, ConnectorDefinition } from './contract.js';
import { sqlConnector } from './sql/sql-connector.js';

/**
 * Connector types by their `type:` value. Validates each `connectors[i]` block against its
 * type's schema and creates the instance. External connectors are loaded from the module a
 * block names (`module: ./my-crm.js`); they are peers of the built-ins (docs/connectors.md).
 */

/** Built-in connector types. rest and salesforce are added here by their owners. */
export const builtinConnectors: ConnectorDefinition<any>[] = [sqlConnector];

/** Keys every block has; the registry consumes them, the connector's schema describes the rest. */
const COMMON_KEYS = ['name', 'type', 'module'] as const;

export class ConnectorRegistry {
  private readonly definitions = new Map<string, ConnectorDefinition<any>>();
  /** Modules already imported, by absolute path, so a reload does not import twice. */
  private readonly modules = new Map<string, ConnectorDefinition<any>>();

  constructor(definitions: ConnectorDefinition<any>[] = builtinConnectors) {
    for (const def of definitions) this.register(def);
  }

  register(def: ConnectorDefinition<any>): void {
    if (!def || typeof def.type !== 'string' || typeof def.create !== 'function' || typeof def.configSchema !== 'object') {
      throw new CallpopError('CALLPOP_CONNECTOR_CONFIG', 'a connector definition needs type (string), configSchema (object) and create (function)');
    }
    this.definitions.set(def.type, def);
  }

  /** The config schema of a registered type (external types once `validate()` loaded them). */
  schemaOf(type: string): object | undefined {
    return this.definitions.get(type)?.configSchema;
  }

  /** Registered types, for messages and `callpop check`. */
  types(): string[] {
    return [...this.definitions.keys()];
  }

  /**
   * Validates one `connectors[i]` block; `path` is its key path (`connectors[1]`). Returns
   * error strings naming the key path; an empty array means valid. Never throws.
   */
  async validate(block: unknown, path: string, baseDir: string): Promise<string[]> {
    if (block === null || typeof block !== 'object' || Array.isArray(block)) return [`${path}: must be an object`];
    const b = block as Record<string, unknown>;
    const errors: string[] = [];
    if (typeof b.name !== 'string' || b.name.length === 0) errors.push(`${path}.name: is required (a unique name for this connector)`);
    if (typeof b.type !== 'string' || b.type.length === 0) {
      errors.push(`${path}.type: is required (one of ${this.types().join(', ')}, or an external type with module:)`);
      return errors;
    }
    if (b.module !== undefined && typeof b.module !== 'string') {
      errors.push(`${path}.module: must be a path to a JavaScript module`);
      return errors;
    }
    let def: ConnectorDefinition<any>;
    try {
      def = await this.definitionFor(b.type, b.module as string | undefined, baseDir);
    } catch (err) {
      const key = b.module !== undefined ? 'module' : 'type';
      errors.push(`${path}.${key}: ${describeError(err)}`);
      return errors;
    }
    const { errors: schemaErrors } = this.check(def, b);
    return [...errors, ...formatAjvErrors(schemaErrors, path)];
  }

  /** Validates (applying defaults) and creates the connector; throws CallpopError on a bad block. */
  async create(block: { name: string; type: string; [k: string]: unknown }, ctx: ConnectorContext): Promise<Connector> {
    const path = `connectors[${block.name}]`;
    const def = await this.definitionFor(block.type, block.module as string | undefined, ctx.baseDir).catch((err: unknown) => {
      throw new CallpopError('CALLPOP_CONNECTOR_UNKNOWN', `${path}.type: ${describeError(err)}`);
    });
    const { config, errors } = this.check(def, block);
    if (errors.length > 0) {
      throw new CallpopError('CALLPOP_CONNECTOR_CONFIG', formatAjvErrors(errors, path).join('; '));
    }
    try {
      return await def.create(Object.freeze(config), ctx);
    } catch (err) {
      if (err instanceof CallpopError) throw err;
      throw new CallpopError('CALLPOP_CONNECTOR_FAILED', `${path}: the ${block.type} connector could not start: ${describeError(err)}`);
    }
  }

  private check(def: ConnectorDefinition<any>, block: Record<string, unknown>): { config: Record<string, unknown>; errors: ErrorObject[] } {
    const validator = validatorFor(def.configSchema);
    // A deep copy: defaults land in the connector's config, never in the caller's parsed YAML.
    const config = structuredClone(block);
    for (const key of COMMON_KEYS) delete config[key];
    const ok = validator(config);
    const errors = ok ? [] : (validator.errors ?? []).filter((e) => e.keyword !== 'if');
    return { config, errors };
  }

  private async definitionFor(type: string, module: string | undefined, baseDir: string): Promise<ConnectorDefinition<any>> {
    if (module === undefined) {
      const def = this.definitions.get(type);
      if (!def) throw new Error(`unknown connector type '${type}' (known: ${this.types().join(', ')}; an external connector needs module: ./path.js)`);
      return def;
    }
    const file = isAbsolute(module) ? module : resolve(baseDir, module);
    let def = this.modules.get(file);
    if (!def) {
      let loaded: unknown;
      try {
        loaded = await import(pathToFileURL(file).href);
      } catch (err) {
        throw new Error(`cannot load connector module ${module}: ${describeError(err)}`);
      }
      const candidate = (loaded as { default?: unknown }).default;
      if (!isDefinition(candidate)) {
        throw new Error(`${module} must export default a connector definition ({ type, configSchema, create }); see docs/connectors.md`);
      }
      def = candidate;
      this.modules.set(file, def);
    }
    if (def.type !== type) throw new Error(`${module} defines connector type '${def.type}', but the block says type: ${type}`);
    const existing = this.definitions.get(def.type);
    if (existing && existing !== def) throw new Error(`${module} defines connector type '${def.type}', which is already registered; pick another type name`);
    this.register(def);
    return def;
  }
}

function isDefinition(value: unknown): value is ConnectorDefinition<any> {
  const v = value as ConnectorDefinition<any> | undefined;
  return !!v && typeof v.type === 'string' && typeof v.create === 'function' && typeof v.configSchema === 'object' && v.configSchema !== null;
}
