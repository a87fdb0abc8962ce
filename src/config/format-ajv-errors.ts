import type { ErrorObject } from 'ajv';

/**
 * The one formatter for schema failures (config file, PBX entries, connectors, lookup): every
 * line reads `key.path: what was expected`, the way an admin reads their YAML.
 */

/** `/pbx/0/port` -> `pbx[0].port`. */
export function toKeyPath(instancePath: string, prefix = ''): string {
  let out = prefix;
  for (const raw of instancePath.split('/').slice(1)) out = childPath(out, raw.replace(/~1/g, '/').replace(/~0/g, '~'));
  return out || '(top level)';
}

/**
 * One line per problem. ajv reports the same mistake once per branch of a oneOf/anyOf; that
 * noise is dropped so the admin sees the real cause.
 */
export function formatAjvErrors(errors: readonly ErrorObject[], prefix = ''): string[] {
  const lines = new Set<string>();
  for (const err of errors) {
    if (err.keyword === 'if' || err.keyword === 'anyOf' || err.keyword === 'oneOf') continue;
    lines.add(formatAjvError(err, prefix));
  }
  return [...lines];
}

function formatAjvError(err: ErrorObject, prefix: string): string {
  const at = toKeyPath(err.instancePath, prefix);
  const p = err.params as Record<string, unknown>;
  switch (err.keyword) {
    // A key-level mistake points at the key itself, so `hub.prot` is found by searching the file.
    case 'additionalProperties': {
      const known = knownKeys(err);
      return `${childPath(at, String(p.additionalProperty))}: unknown key${known.length > 0 ? `; expected one of ${known.join(', ')}` : ''}`;
    }
    case 'required':
      return `${childPath(at, String(p.missingProperty))}: is required`;
    case 'enum':
      return `${at}: must be one of ${(p.allowedValues as unknown[]).map(String).join(', ')}`;
    case 'type':
      return `${at}: must be ${String(p.type)}`;
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return `${at}: must be ${String(p.comparison)} ${String(p.limit)}`;
    case 'pattern':
      return `${at}: must match pattern ${String(p.pattern)}`;
    case 'const':
      return `${at}: must be ${JSON.stringify(p.allowedValue)}`;
    default:
      return `${at}: ${err.message ?? 'is invalid'}`;
  }
}

function childPath(parent: string, key: string): string {
  if (/^\d+$/.test(key)) return `${parent}[${key}]`;
  return parent && parent !== '(top level)' ? `${parent}.${key}` : key;
}

/** The keys the schema declares where an unknown one was found (needs ajv `verbose`). */
function knownKeys(err: ErrorObject): string[] {
  const properties = (err.parentSchema as { properties?: Record<string, unknown> } | undefined)?.properties;
  return properties ? Object.keys(properties) : [];
}
