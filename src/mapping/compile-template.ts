import type { CustomerMatch, FieldValue } from '../model/customer.js';
import type { PopPayload } from '../model/pop.js';
import { popBindings } from './call-bindings.js';
import { compileExpression, type ExpressionBindings, type ExpressionEnv } from './compile-expression.js';
import { checkKeys, isPlainObject, readStringList, type ConfigSite } from './config-site.js';
import { isMissing, isTruthy, toFieldValue, withoutNulls } from './field-value.js';
import { compileLink, compilePlaceholders, encodeForUrl, fillLabel, type PlaceholderTemplate } from './links.js';
import type { PopContext } from './mapping-api.js';
import { FIELD_NAME_PATTERN, MASK_STYLES, MAX_FIELD_DEPTH, type MaskStyle } from './mapping-config.js';
import { isHidden, isMasked, maskValue, type Protection } from './mask.js';
import { parseRecordPath, readPath, type PathStep } from './record-path.js';
import { compileMatcher, type TemplateMatcher } from './select-template.js';

/** Compiles one template: its fields into a tree of small renderers, its links and label. */

export interface TemplateEnv extends ExpressionEnv {
  skills: ReadonlyMap<string, ReadonlySet<string>>;
  maxListItems: number;
}

/** Called when a field fails at render; compileMapping logs each (template, field) once. */
export type FieldErrorReporter = (template: string, field: string, err: unknown) => void;

export interface CompiledTemplate {
  readonly name: string;
  /** Undefined: never picked automatically. */
  readonly matcher: TemplateMatcher | undefined;
  render(ctx: PopContext, role: string, report: FieldErrorReporter): Promise<PopPayload>;
  /** The picker label, or undefined when the template has none or it comes out empty. */
  label(match: CustomerMatch): string | undefined;
}

/** What one render carries down the field tree. */
interface Scope {
  /** The record (or, inside a list, the item). */
  root: unknown;
  bindings: ExpressionBindings;
  role: string;
  fail(field: string, err: unknown): void;
}

type Rendered = FieldValue | undefined;

interface CompiledField {
  readonly name: string;
  readonly protection: Protection;
  /** Never throws: a failure is reported and the field is left out. */
  render(scope: Scope): Rendered | Promise<Rendered>;
}

const KINDS = ['path', 'value', 'expr', 'group', 'list'] as const;
type Kind = (typeof KINDS)[number];
const LEAF_OPTIONS = ['when', 'default', 'limit', 'mask', 'mask_for', 'hide_from'];
const ALLOWED_KEYS: Record<Kind, readonly string[]> = {
  path: ['path', ...LEAF_OPTIONS],
  value: ['value', ...LEAF_OPTIONS],
  expr: ['expr', ...LEAF_OPTIONS],
  group: ['group', 'when', 'hide_from'],
  list: ['list', 'where', 'fields', 'when', 'limit', 'hide_from', 'default'],
};
const TEMPLATE_KEYS = ['name', 'label', 'match', 'fields', 'links'];
const fieldNameRe = new RegExp(FIELD_NAME_PATTERN);
const RESERVED_NAMES = new Set(['__proto__', 'constructor', 'prototype']);

export function compileTemplate(site: ConfigSite, config: Record<string, unknown>, env: TemplateEnv): CompiledTemplate {
  checkKeys(site, config, TEMPLATE_KEYS);
  const name = config.name as string; // checked by compileMapping, which names the site with it
  const matcher = config.match === undefined ? undefined : compileMatcher(site.key('match'), config.match, env.skills);

  // Paths of masked or hidden fields, so links and labels cannot leak them.
  const protectedPaths = new Map<string, Protection[]>();
  const protect: Protect = (key, p) => {
    if (p.mask !== undefined || p.hideFrom !== undefined) protectedPaths.set(key, [...(protectedPaths.get(key) ?? []), p]);
  };
  const fields = compileFields(site.key('fields'), config.fields, env, 1, '', protect);

  const links: { name: string; url: PlaceholderTemplate; guards: Protection[] }[] = [];
  if (config.links !== undefined) {
    const linksSite: ConfigSite = site.key('links');
    if (!isPlainObject(config.links)) linksSite.fail('must be a map of link name to URL');
    for (const [linkName, url] of Object.entries(config.links)) {
      const linkSite: ConfigSite = linksSite.key(linkName);
      if (!fieldNameRe.test(linkName) || RESERVED_NAMES.has(linkName)) linkSite.fail(`link name must match ${FIELD_NAME_PATTERN}`);
      if (typeof url !== 'string' || url === '') linkSite.fail('must be a URL string');
      const compiled = compileLink(linkSite, url);
      const guards = compiled.paths.flatMap((p) => protectedPaths.get(pathKey(p)) ?? []);
      links.push({ name: linkName, url: compiled, guards });
    }
  }

  let label: PlaceholderTemplate | undefined;
  if (config.label !== undefined) {
    const labelSite: ConfigSite = site.key('label');
    if (typeof config.label !== 'string' || config.label.trim() === '') labelSite.fail('must be a non-empty string like "{first_name} {last_name}"');
    label = compilePlaceholders(labelSite, config.label);
    for (const p of label.paths) {
      // The picker label is the same for every role, so it may not show a protected field.
      if (protectedPaths.has(pathKey(p))) labelSite.fail(`{${p}} is a masked or hidden field; a label is shown to every role`);
    }
  }

  return {
    name,
    matcher,
    async render(ctx, role, report) {
      const record = ctx.match === null ? undefined : withoutNulls(ctx.match.record);
      const scope: Scope = {
        root: record,
        bindings: popBindings(ctx, record),
        role,
        fail: (field, err) => report(name, field, err),
      };
      const out: PopPayload = { template: name, fields: await renderFields(fields, scope), links: {} };
      if (ctx.match !== null) {
        for (const link of links) {
          if (link.guards.some((g) => isHidden(g, role) || isMasked(g, role))) continue;
          const url = link.url.fill(ctx.match, encodeForUrl);
          if (url !== undefined) out.links[link.name] = url;
        }
      }
      return out;
    },
    label: (match) => (label === undefined ? undefined : fillLabel(label, match)),
  };
}

/**
 * Records that a record path is shown under a protection. Undefined inside list items, whose
 * paths read the item, not the record that links and labels read.
 */
type Protect = ((pathKey: string, protection: Protection) => void) | undefined;

function pathKey(path: string): string {
  const steps = parseRecordPath(path);
  return typeof steps === 'string' ? path : JSON.stringify(steps);
}

async function renderFields(fields: readonly CompiledField[], scope: Scope): Promise<Record<string, FieldValue>> {
  // Path and literal fields render synchronously; only expressions need awaiting.
  const values: (Rendered | Promise<Rendered>)[] = [];
  let pending = false;
  for (const field of fields) {
    const v = isHidden(field.protection, scope.role) ? undefined : field.render(scope);
    if (v instanceof Promise) pending = true;
    values.push(v);
  }
  const resolved = pending ? await Promise.all(values) : (values as Rendered[]);
  const out: Record<string, FieldValue> = {};
  resolved.forEach((v, i) => {
    if (v !== undefined) out[fields[i]!.name] = v;
  });
  return out;
}

function compileFields(
  site: ConfigSite,
  config: unknown,
  env: TemplateEnv,
  depth: number,
  trail: string,
  protect: Protect,
): CompiledField[] {
  if (!isPlainObject(config) || Object.keys(config).length === 0) site.fail('must be a map of field name to field (at least one)');
  return Object.entries(config).map(([name, spec]) => {
    const fieldSite = site.key(name);
    if (!fieldNameRe.test(name) || RESERVED_NAMES.has(name)) fieldSite.fail(`field name must match ${FIELD_NAME_PATTERN}`);
    return compileField(fieldSite, name, spec, env, depth, trail === '' ? name : `${trail}.${name}`, protect);
  });
}

function compileField(
  site: ConfigSite,
  name: string,
  spec: unknown,
  env: TemplateEnv,
  depth: number,
  /** Dotted name for logs (`vip.since`, `orders[].total`). */
  trail: string,
  protect: Protect,
): CompiledField {
  const obj: Record<string, unknown> = typeof spec === 'string' ? { path: spec } : isPlainObject(spec) ? spec : site.fail('must be a record path (text) or a map with one of path, value, expr, group, list');
  const kinds = KINDS.filter((k) => obj[k] !== undefined);
  if (kinds.length === 0) site.fail(`needs one of ${KINDS.join(', ')}`);
  if (kinds.length > 1) site.fail(`has both ${kinds[0]} and ${kinds[1]}; a field is exactly one kind`);
  const kind = kinds[0]!;
  checkKeys(site, obj, ALLOWED_KEYS[kind]);
  if ((kind === 'group' || kind === 'list') && depth >= MAX_FIELD_DEPTH) site.fail(`groups and lists nest at most ${MAX_FIELD_DEPTH} levels deep`);

  const protection = readProtection(site, obj);
  const when = obj.when === undefined ? undefined : compileExpression(site.key('when'), expectText(site.key('when'), obj.when), env);
  const fallback = readDefault(site, obj);
  // Every list value is capped, with or without a `limit` (mapping.max_list_items).
  const limit = readLimit(site, obj, env.maxListItems) ?? env.maxListItems;

  let produce: (scope: Scope) => Rendered | Promise<Rendered>;
  switch (kind) {
    case 'path': {
      const path = compilePath(typeof spec === 'string' ? site : site.key('path'), obj.path);
      protect?.(JSON.stringify(path), protection);
      produce = (scope) => finishLeaf(readPath(scope.root, path), scope, limit, fallback, protection);
      break;
    }
    case 'value': {
      const value = checkData(site.key('value'), obj.value);
      produce = (scope) => finishLeaf(value, scope, limit, fallback, protection);
      break;
    }
    case 'expr': {
      const expr = compileExpression(site.key('expr'), expectText(site.key('expr'), obj.expr), env);
      produce = (scope) => then(expr.evaluate(scope.root, scope.bindings), (v) => finishLeaf(v, scope, limit, fallback, protection));
      break;
    }
    case 'group': {
      // A group hidden from a role hides every path inside it from that role's links too.
      const groupHide = protection.hideFrom;
      const inner: Protect =
        protect === undefined || groupHide === undefined
          ? protect
          : (key, p) => {
              protect(key, p);
              protect(key, { hideFrom: groupHide });
            };
      const children = compileFields(site.key('group'), obj.group, env, depth + 1, trail, inner);
      produce = async (scope) => {
        const out = await renderFields(children, scope);
        return Object.keys(out).length === 0 ? undefined : out;
      };
      break;
    }
    case 'list':
      produce = compileList(site, obj, env, depth, trail, limit, fallback);
      break;
  }

  const render = (scope: Scope): Rendered | Promise<Rendered> => {
    try {
      const v = when === undefined ? produce(scope) : then(when.evaluate(scope.root, scope.bindings), (shown) => (isTruthy(shown) ? produce(scope) : undefined));
      return v instanceof Promise ? v.catch((err: unknown) => failed(scope, trail, err)) : v;
    } catch (err) {
      return failed(scope, trail, err);
    }
  };
  return { name, protection, render };
}

/** Applies `fn` now if `value` is already there, else when it arrives: sync fields stay sync. */
function then<T, R>(value: T | Promise<T>, fn: (v: T) => R | Promise<R>): R | Promise<R> {
  return value instanceof Promise ? value.then(fn) : fn(value);
}

function failed(scope: Scope, trail: string, err: unknown): undefined {
  scope.fail(trail, err);
  return undefined;
}

function finishLeaf(raw: unknown, scope: Scope, limit: number, fallback: FieldValue | undefined, protection: Protection): Rendered {
  let value = toFieldValue(raw);
  if (Array.isArray(value) && value.length > limit) value = value.slice(0, limit);
  if (isMissing(value)) {
    if (fallback === undefined) return undefined;
    value = typeof fallback === 'object' && fallback !== null ? toFieldValue(fallback) : fallback; // copy: pops never share objects
    if (value === undefined) return undefined;
  }
  return isMasked(protection, scope.role) && value !== null ? maskValue(value, protection.mask!) : value;
}

function compileList(
  site: ConfigSite,
  obj: Record<string, unknown>,
  env: TemplateEnv,
  depth: number,
  trail: string,
  limit: number,
  fallback: FieldValue | undefined,
): (scope: Scope) => Promise<Rendered> {
  const listSite: ConfigSite = site.key('list');
  let source: (scope: Scope) => unknown;
  if (typeof obj.list === 'string') {
    const path = compilePath(listSite, obj.list);
    source = (scope) => readPath(scope.root, path);
  } else if (isPlainObject(obj.list)) {
    checkKeys(listSite, obj.list, ['expr']);
    const expr = compileExpression(listSite.key('expr'), expectText(listSite.key('expr'), obj.list.expr), env);
    source = (scope) => expr.evaluate(scope.root, scope.bindings);
  } else {
    listSite.fail('must be a record path (text) or { expr: ... }');
  }
  const where = obj.where === undefined ? undefined : compileExpression(site.key('where'), expectText(site.key('where'), obj.where), env);
  // Item fields see the item as root; protections inside a list are checked per item, so they do
  // not guard template links (which read the record, not an item).
  const itemFields = obj.fields === undefined ? undefined : compileFields(site.key('fields'), obj.fields, env, depth + 1, `${trail}[]`, undefined);

  return async (scope) => {
    const raw = await source(scope);
    if (raw === undefined || raw === null) return fallback === undefined ? undefined : toFieldValue(fallback);
    // A single object where a list was expected (a REST API returning one order) is a list of one.
    const items: unknown[] = Array.isArray(raw) ? raw : [raw];
    const out: FieldValue[] = [];
    for (const item of items) {
      if (out.length >= limit) break;
      if (where !== undefined && !isTruthy(await where.evaluate(item, scope.bindings))) continue;
      if (itemFields === undefined) {
        const v = toFieldValue(item);
        if (v !== undefined) out.push(v);
      } else {
        out.push(await renderFields(itemFields, { ...scope, root: item }));
      }
    }
    return out;
  };
}

function compilePath(site: ConfigSite, text: unknown): PathStep[] {
  const t = expectText(site, text);
  const steps = parseRecordPath(t.trim());
  if (typeof steps === 'string') site.fail(`bad record path "${t}": ${steps}`);
  return steps;
}

function expectText(site: ConfigSite, value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') site.fail('must be a non-empty string');
  return value;
}

function checkData(site: ConfigSite, value: unknown): FieldValue {
  try {
    const v = toFieldValue(value);
    if (v === undefined) site.fail('must be a value');
    return v;
  } catch {
    return site.fail('must be plain data (text, number, boolean, null, list or map)');
  }
}

function readDefault(site: ConfigSite, obj: Record<string, unknown>): FieldValue | undefined {
  return obj.default === undefined ? undefined : checkData(site.key('default'), obj.default);
}

function readLimit(site: ConfigSite, obj: Record<string, unknown>, max: number): number | undefined {
  if (obj.limit === undefined) return undefined;
  const limit = obj.limit;
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > max) {
    throw site.key('limit').error(`must be a whole number from 1 to ${max} (mapping.max_list_items)`);
  }
  return limit;
}

function readProtection(site: ConfigSite, obj: Record<string, unknown>): Protection {
  const p: Protection = {};
  if (obj.mask !== undefined) {
    if (!(MASK_STYLES as readonly unknown[]).includes(obj.mask)) site.key('mask').fail(`must be one of ${MASK_STYLES.join(', ')}`);
    p.mask = obj.mask as MaskStyle;
  }
  if (obj.mask_for !== undefined) {
    if (p.mask === undefined) site.key('mask_for').fail('needs mask: (which mask those roles see)');
    p.maskFor = new Set(readStringList(site.key('mask_for'), obj.mask_for));
  }
  if (obj.hide_from !== undefined) p.hideFrom = new Set(readStringList(site.key('hide_from'), obj.hide_from));
  return p;
}
