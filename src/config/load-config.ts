import { readFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, resolve } from 'node:path';
import type { ValidateFunction } from 'ajv';
import { parseDocument } from 'yaml';
import { ConnectorRegistry } from '../connectors/registry.js';
import { CallpopError, describeError } from '../model/errors.js';
import { pbxDefinitionFor, pbxDefinitions, pbxTypes } from '../pbx/pbx-registry.js';
import type { PbxAdapterDefinition } from '../pbx/pbx-adapter.js';
import { configSchemaFor } from './config-schema.js';
import type { Config } from './config-types.js';
import { substituteEnv } from './env-substitution.js';
import { formatAjvErrors } from './format-ajv-errors.js';
import { validatorFor } from './schema-ajv.js';

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  connectors?: ConnectorRegistry;
  pbx?: readonly PbxAdapterDefinition<any>[];
}

/**
 * The top-level validator per PBX registry. The schema is built from the registry, so it is
 * cached here by registry: compiling a fresh schema object on every reload would grow ajv's cache.
 */
const topValidators = new WeakMap<readonly PbxAdapterDefinition<any>[], ValidateFunction>();

function topValidatorFor(definitions: readonly PbxAdapterDefinition<any>[]): ValidateFunction {
  let validate = topValidators.get(definitions);
  if (!validate) {
    validate = validatorFor(configSchemaFor(pbxTypes(definitions)));
    topValidators.set(definitions, validate);
  }
  return validate;
}

/** Reads, validates and freezes a config file. Throws CallpopError naming file and key path. */
export async function loadConfig(file: string, options: LoadOptions = {}): Promise<Config> {
  const path = resolve(file);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new CallpopError('CALLPOP_CONFIG_READ', `${file}: cannot read the config file (${(err as NodeJS.ErrnoException).code ?? describeError(err)})`);
  }
  return parseConfig(text, { file: basename(path), baseDir: dirname(path) }, options);
}

/** Validates config text; `source.file` only names it in messages. */
export async function parseConfig(
  text: string,
  source: { file: string; baseDir: string },
  options: LoadOptions = {},
): Promise<Config> {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const lines = doc.errors.map((e) => {
      const pos = e.linePos?.[0];
      return pos ? `line ${pos.line}, column ${pos.col}: ${e.code} ${firstLine(e.message)}` : firstLine(e.message);
    });
    throw invalid(source.file, lines);
  }
  const raw = doc.toJS({ maxAliasCount: 100 }) as unknown;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw invalid(source.file, ['(top level): must be a mapping with keys pbx, connectors, lookup, mapping, hub']);
  }
  let resolved: unknown;
  try {
    resolved = substituteEnv(raw, options.env ?? process.env);
  } catch (err) {
    if (err instanceof CallpopError) throw new CallpopError(err.code, `${source.file}: ${err.message}`);
    throw err;
  }
  return validateConfig(resolved, source, options);
}

/** Validates an already-parsed config object (used by `callpop demo`, which builds one). */
export async function validateConfig(
  value: unknown,
  source: { file: string; baseDir: string },
  options: LoadOptions = {},
): Promise<Config> {
  const data = structuredClone(value) as Record<string, unknown>;
  const definitions = options.pbx ?? pbxDefinitions;
  const validateTop = topValidatorFor(definitions);
  if (!validateTop(data)) throw invalid(source.file, formatAjvErrors(validateTop.errors ?? []));

  const problems: string[] = [];
  const config = data as unknown as Omit<Config, 'file' | 'baseDir'>;

  const seenPbx = new Set<string>();
  config.pbx.forEach((entry, i) => {
    if (seenPbx.has(entry.id)) problems.push(`pbx[${i}].id: duplicate id '${entry.id}' (each PBX needs its own id)`);
    seenPbx.add(entry.id);
    const definition = pbxDefinitionFor(entry.type, definitions);
    if (!definition) return;
    const check = validatorFor(definition.configSchema);
    if (!check(entry)) problems.push(...formatAjvErrors(check.errors ?? [], `pbx[${i}]`));
    // Files named in the config are relative to the config file, not to the working directory.
    const tls = (entry as { tls?: { ca_file?: string } }).tls;
    if (tls?.ca_file && !isAbsolute(tls.ca_file)) tls.ca_file = resolve(source.baseDir, tls.ca_file);
  });

  const registry = options.connectors ?? new ConnectorRegistry();
  const names = new Set<string>();
  for (const [i, block] of config.connectors.entries()) {
    if (names.has(block.name)) problems.push(`connectors[${i}].name: duplicate name '${block.name}'`);
    names.add(block.name);
    problems.push(...(await registry.validate(block, `connectors[${i}]`, source.baseDir)));
  }

  for (const [i, name] of sourceNames(config.lookup).entries()) {
    if (!names.has(name)) problems.push(`lookup.sources[${i}]: no connector named '${name}' (known: ${[...names].join(', ')})`);
  }
  for (const [i, name] of config.store.writeback.connectors.entries()) {
    if (!names.has(name)) problems.push(`store.writeback.connectors[${i}]: no connector named '${name}'`);
  }
  if (config.hub.tokens.length === 0) {
    problems.push('hub.tokens: add at least one token (e.g. token: ${env:CALLPOP_AGENT_TOKEN}, agents: ["*"]) so agent clients can connect');
  }

  if (problems.length > 0) throw invalid(source.file, problems);
  return deepFreeze({ ...config, file: source.file, baseDir: source.baseDir });
}

/** Connector names the lookup uses, whatever form `lookup.sources` takes. */
function sourceNames(lookup: Config['lookup']): string[] {
  const sources = (lookup as { sources?: unknown }).sources;
  if (!Array.isArray(sources)) return [];
  return sources.map((s) => (typeof s === 'string' ? s : String((s as { connector?: unknown }).connector ?? '')));
}

function invalid(file: string, lines: string[]): CallpopError {
  const err = new CallpopError('CALLPOP_CONFIG_INVALID', `${file}: invalid configuration:\n  ${lines.map((l) => `${file}: ${l}`).join('\n  ')}`);
  (err as CallpopError & { problems: string[] }).problems = lines;
  return err;
}

function firstLine(message: string): string {
  return message.split('\n')[0] ?? message;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const item of Object.values(value as object)) deepFreeze(item);
  }
  return value;
}
