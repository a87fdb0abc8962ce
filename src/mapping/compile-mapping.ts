import type { CustomerMatch } from '../model/customer.js';
import { describeError } from '../model/errors.js';
import { silentLogger, type Logger } from '../model/logger.js';
import type { PopPayload } from '../model/pop.js';
import { compileTemplate, type CompiledTemplate, type FieldErrorReporter, type TemplateEnv } from './compile-template.js';
import { ConfigSite, checkKeys, isPlainObject, readStringList } from './config-site.js';
import type { CompiledMapping, PopContext } from './mapping-api.js';
import { MAPPING_DEFAULTS, TEMPLATE_NAME_PATTERN, type MappingConfig, type TableValue } from './mapping-config.js';

export type { MappingConfig } from './mapping-config.js';

const ROOT_KEYS = ['default_template', 'default_role', 'max_list_items', 'expression_timeout_ms', 'expression_max_depth', 'tables', 'skills', 'templates'];
const templateNameRe = new RegExp(TEMPLATE_NAME_PATTERN);
/** Longest error text kept in a log line; JSONata messages can quote record values. */
const MAX_LOGGED_ERROR_CHARS = 200;

/**
 * Compiles the `mapping:` block once, at load. Every expression is parsed and checked here, so
 * a typo fails the load (or a SIGHUP reload) with
 * `config.yaml: mapping.templates[1] (vip).fields.tier_label.expr: unknown function $fomat`,
 * never at the first call. Works on ajv-validated config and on raw input alike.
 */
export function compileMapping(config: MappingConfig, source: { file: string }, logger: Logger = silentLogger): CompiledMapping {
  const site: ConfigSite = new ConfigSite(source.file, 'mapping');
  const raw: unknown = config;
  if (!isPlainObject(raw)) site.fail('must be a map with templates (and optionally tables, skills, default_template, ...)');
  checkKeys(site, raw, ROOT_KEYS);

  const defaultTemplate = readString(site.key('default_template'), raw.default_template, MAPPING_DEFAULTS.default_template);
  const defaultRole = readString(site.key('default_role'), raw.default_role, MAPPING_DEFAULTS.default_role);
  const env: TemplateEnv = {
    maxListItems: readInt(site.key('max_list_items'), raw.max_list_items, MAPPING_DEFAULTS.max_list_items, 1, 1000),
    timeoutMs: readInt(site.key('expression_timeout_ms'), raw.expression_timeout_ms, MAPPING_DEFAULTS.expression_timeout_ms, 1, 10000),
    maxDepth: readInt(site.key('expression_max_depth'), raw.expression_max_depth, MAPPING_DEFAULTS.expression_max_depth, 10, 10000),
    tables: readTables(site.key('tables'), raw.tables),
    skills: readSkills(site.key('skills'), raw.skills),
  };

  const templatesSite: ConfigSite = site.key('templates');
  if (!Array.isArray(raw.templates) || raw.templates.length === 0) templatesSite.fail('must be a list with at least one template');
  const templates = new Map<string, CompiledTemplate>();
  raw.templates.forEach((t: unknown, i: number) => {
    const name = isPlainObject(t) ? t.name : undefined;
    const tSite: ConfigSite = templatesSite.index(i, typeof name === 'string' ? name : undefined);
    if (!isPlainObject(t)) tSite.fail('must be a map with name and fields');
    if (typeof name !== 'string' || !templateNameRe.test(name)) throw tSite.key('name').error(`must be a name matching ${TEMPLATE_NAME_PATTERN}`);
    if (templates.has(name)) tSite.key('name').fail(`duplicate template name '${name}'`);
    templates.set(name, compileTemplate(tSite, t, env));
  });
  const fallback = templates.get(defaultTemplate);
  if (fallback === undefined) {
    throw site.key('default_template').error(`no template is named '${defaultTemplate}'; templates: ${[...templates.keys()].join(', ')}`);
  }
  const ordered = [...templates.values()];

  // Each (template, field) failure is logged once: a broken expression would otherwise log on
  // every call. Bounded by the number of fields in the config.
  const reported = new Set<string>();
  const report: FieldErrorReporter = (template, field, err) => {
    const key = `${template}\u0000${field}`;
    if (reported.has(key)) return;
    reported.add(key);
    const code = (err as { code?: unknown } | null)?.code;
    logger.warn(
      { template, field, ...(typeof code === 'string' ? { code } : {}), err: describeFieldError(err) },
      'mapping field failed; it is left out of pops (logged once per template and field)',
    );
  };
  const unknownNames = new Set<string>();
  const pick = (name: string | undefined): CompiledTemplate => {
    if (name === undefined) return fallback;
    const t = templates.get(name);
    if (t !== undefined) return t;
    // Rendering never throws: an unknown name (a stale CLI flag, a reload) falls back.
    if (!unknownNames.has(name) && unknownNames.size < 100) {
      unknownNames.add(name);
      logger.warn({ template: name, fallback: fallback.name }, 'unknown mapping template; using the default');
    }
    return fallback;
  };

  const select = (ctx: PopContext): string => {
    const role = ctx.role ?? defaultRole;
    for (const t of ordered) if (t.matcher !== undefined && t.matcher(ctx, role)) return t.name;
    return fallback.name;
  };

  return {
    templates: ordered.map((t) => t.name),
    select,
    render(ctx: PopContext, template?: string): Promise<PopPayload> {
      const t = pick(template ?? select(ctx));
      return t.render(ctx, ctx.role ?? defaultRole, report);
    },
    label(match: CustomerMatch, template?: string): string {
      return pick(template).label(match) ?? fallback.label(match) ?? match.id ?? match.source;
    },
  };
}

/**
 * JSONata throws plain objects (`{ code, message, value }`), not Errors, and quotes the
 * offending value in the message; the value is customer data, so it is cut out of logs.
 */
export function describeFieldError(err: unknown): string {
  let text: string;
  if (err instanceof Error) text = err.message;
  else if (isPlainObject(err) && typeof err.message === 'string') text = err.message;
  else text = describeError(err);
  const value = isPlainObject(err) ? err.value : undefined;
  if (value !== undefined && value !== null && typeof value !== 'function') {
    // JSONata writes the value JSON-encoded; a bare String(value) could match inside words.
    const form = JSON.stringify(value) as string | undefined;
    if (form !== undefined && form.length > 0) text = text.split(form).join('<value>');
  }
  return text.slice(0, MAX_LOGGED_ERROR_CHARS);
}

function readString(site: ConfigSite, value: unknown, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || value === '') site.fail('must be a non-empty string');
  return value;
}

function readInt(site: ConfigSite, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) site.fail(`must be a whole number from ${min} to ${max}`);
  return value;
}

function readTables(site: ConfigSite, value: unknown): Map<string, Map<string, TableValue>> {
  const tables = new Map<string, Map<string, TableValue>>();
  if (value === undefined) return tables;
  if (!isPlainObject(value)) site.fail('must be a map of table name to { key: value }');
  for (const [name, entries] of Object.entries(value)) {
    const tSite: ConfigSite = site.key(name);
    if (!isPlainObject(entries)) tSite.fail('must be a map of key to value');
    const table = new Map<string, TableValue>();
    for (const [key, v] of Object.entries(entries)) {
      if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') throw tSite.key(key).error('must be text, a number or true/false');
      table.set(key, v);
    }
    tables.set(name, table);
  }
  return tables;
}

function readSkills(site: ConfigSite, value: unknown): Map<string, Set<string>> {
  const skills = new Map<string, Set<string>>();
  if (value === undefined) return skills;
  if (!isPlainObject(value)) site.fail('must be a map of skill name to a list of queues');
  for (const [name, queues] of Object.entries(value)) skills.set(name, new Set(readStringList(site.key(name), queues)));
  return skills;
}
