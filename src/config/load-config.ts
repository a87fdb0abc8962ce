import { open } from 'node:fs/promises';
import { basename, dirname, isAbsolute, resolve } from 'node:path';
import type { ValidateFunction } from 'ajv';
import { ConnectorRegistry } from '../connectors/registry.js';
import { CallpopError, describeError } from '../model/errors.js';
import { pbxDefinitionFor, pbxDefinitions, pbxTypes } from '../pbx/pbx-registry.js';
import type { PbxAdapterDefinition } from '../pbx/pbx-adapter.js';
import { configInvalid } from './config-invalid.js';
import { CONFIG_LIMITS } from './config-limits.js';
import { configSchemaFor } from './config-schema.js';
import type { Config } from './config-types.js';
import { substituteEnv } from './env-substitution.js';
import { formatAjvErrors } from './format-ajv-errors.js';
import { inlineSecretPaths, inlineSecretWarning, readableByOthers } from './inline-secrets.js';
import { parseConfigYaml } from './parse-config-yaml.js';
import { validatorFor } from './schema-ajv.js';

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  connectors?: ConnectorRegistry;
  pbx?: readonly PbxAdapterDefinition<any>[];
}

/** Where config text came from: `file` names it in messages, `mode` (permission bits) enables the readable-secrets warning. */
export interface ConfigSource {
  file: string;
  baseDir: string;
  mode?: number;
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

/**
 * Reads, validates and freezes a config file. Throws CallpopError naming file and key path;
 * what is worth saying but not refusing comes back in `config.warnings`.
 */
export async function loadConfig(file: string, options: LoadOptions = {}): Promise<Config> {
  const path = resolve(file);
  const { text, mode } = await readBounded(path, file);
  return parseConfig(text, { file: basename(path), baseDir: dirname(path), mode }, options);
}

/** Validates config text. */
export async function parseConfig(text: string, source: ConfigSource, options: LoadOptions = {}): Promise<Config> {
  const raw = parseConfigYaml(text, source.file);
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw configInvalid(source.file, ['(top level): must be a mapping with keys pbx, connectors, lookup, mapping, hub']);
  }
  let resolved: unknown;
  try {
    resolved = substituteEnv(raw, options.env ?? process.env);
  } catch (err) {
    if (err instanceof CallpopError) throw new CallpopError(err.code, `${source.file}: ${err.message}`);
    throw err;
  }
  const connectors = options.connectors ?? new ConnectorRegistry();
  const definitions = options.pbx ?? pbxDefinitions;
  const data = await checkConfig(resolved, source, { ...options, connectors, pbx: definitions });
  const warnings: string[] = [];
  if (source.mode !== undefined && readableByOthers(source.mode)) {
    const secrets = inlineSecrets(raw as Record<string, unknown>, definitions, connectors);
    if (secrets.length > 0) warnings.push(inlineSecretWarning(source.file, source.mode, secrets));
  }
  return finish(data, source, warnings);
}

/** Validates an already-parsed config object (used by `callpop demo`, which builds one). */
export async function validateConfig(value: unknown, source: ConfigSource, options: LoadOptions = {}): Promise<Config> {
  return finish(await checkConfig(value, source, options), source, []);
}

type ConfigData = Omit<Config, 'file' | 'baseDir' | 'warnings'>;

async function checkConfig(value: unknown, source: ConfigSource, options: LoadOptions): Promise<ConfigData> {
  const data = structuredClone(value) as Record<string, unknown>;
  const definitions = options.pbx ?? pbxDefinitions;
  const validateTop = topValidatorFor(definitions);
  if (!validateTop(data)) throw configInvalid(source.file, formatAjvErrors(validateTop.errors ?? []));

  const problems: string[] = [];
  const config = data as unknown as ConfigData;

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

  if (problems.length > 0) throw configInvalid(source.file, problems);
  return config;
}

function finish(data: ConfigData, source: ConfigSource, warnings: string[]): Config {
  return deepFreeze({ ...data, file: source.file, baseDir: source.baseDir, warnings });
}

/** Key paths of secrets written inline, for every part whose schema declares secrets (`writeOnly`). */
function inlineSecrets(raw: Record<string, unknown>, definitions: readonly PbxAdapterDefinition<any>[], registry: ConnectorRegistry): string[] {
  const found = inlineSecretPaths(topValidatorFor(definitions).schema as object, { hub: raw.hub }, '');
  const entries = Array.isArray(raw.pbx) ? (raw.pbx as Record<string, unknown>[]) : [];
  entries.forEach((entry, i) => found.push(...inlineSecretPaths(pbxDefinitionFor(String(entry?.type), definitions)?.configSchema, entry, `pbx[${i}]`)));
  const blocks = Array.isArray(raw.connectors) ? (raw.connectors as Record<string, unknown>[]) : [];
  blocks.forEach((block, i) => found.push(...inlineSecretPaths(registry.schemaOf(String(block?.type)), block, `connectors[${i}]`)));
  return found;
}

/**
 * The file's text and permission bits, refusing one past the size limit before reading it
 * (and reading at most one byte past the limit, should it grow meanwhile).
 */
async function readBounded(path: string, file: string): Promise<{ text: string; mode: number }> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    throw new CallpopError('CALLPOP_CONFIG_READ', `${file}: cannot read the config file (${(err as NodeJS.ErrnoException).code ?? describeError(err)})`);
  }
  try {
    const stat = await handle.stat();
    const limit = CONFIG_LIMITS.maxBytes;
    if (stat.size > limit) throw tooLargeFile(file, stat.size, limit);
    const buffer = Buffer.alloc(Math.min(stat.size, limit) + 1);
    let length = 0;
    while (length < buffer.length) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > limit) throw tooLargeFile(file, length, limit);
    return { text: buffer.subarray(0, length).toString('utf8'), mode: stat.mode };
  } catch (err) {
    if (err instanceof CallpopError) throw err;
    throw new CallpopError('CALLPOP_CONFIG_READ', `${file}: cannot read the config file (${(err as NodeJS.ErrnoException).code ?? describeError(err)})`);
  } finally {
    await handle.close();
  }
}

function tooLargeFile(file: string, size: number, limit: number): CallpopError {
  return new CallpopError('CALLPOP_CONFIG_TOO_LARGE', `${file}: the config file is ${size} bytes or more, more than the limit of ${limit} bytes; split it or shorten its tables (limits: docs/operations.md)`);
}

/** Connector names the lookup uses, whatever form `lookup.sources` takes. */
function sourceNames(lookup: Config['lookup']): string[] {
  const sources = (lookup as { sources?: unknown }).sources;
  if (!Array.isArray(sources)) return [];
  return sources.map((s) => (typeof s === 'string' ? s : String((s as { connector?: unknown }).connector ?? '')));
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const item of Object.values(value as object)) deepFreeze(item);
  }
  return value;
}
