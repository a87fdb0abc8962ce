import type { ErrorObject } from 'ajv';

/** `/pbx/0/port` -> `pbx[0].port`, the way an admin reads their YAML. */
export function toKeyPath(instancePath: string, prefix = ''): string {
  let out = prefix;
  for (const raw of instancePath.split('/').slice(1)) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(part) ? `[${part}]` : out ? `.${part}` : part;
  }
  return out || '(top level)';
}

/**
 * One line per problem, `key.path: what was expected`. ajv reports the same mistake once per
 * branch of a oneOf/anyOf; the noise is dropped so the admin sees the real cause.
 */
export function formatAjvErrors(errors: readonly ErrorObject[], prefix = ''): string[] {
  const lines = new Set<string>();
  for (const err of errors) {
    if (err.keyword === 'if' || err.keyword === 'anyOf' || err.keyword === 'oneOf') continue;
    const path = toKeyPath(err.instancePath, prefix);
    lines.add(`${path}: ${describe(err)}`);
  }
  return [...lines];
}

function describe(err: ErrorObject): string {
  const p = err.params as Record<string, unknown>;
  switch (err.keyword) {
    case 'additionalProperties':
      return `unknown key '${String(p.additionalProperty)}'`;
    case 'required':
      return `missing required key '${String(p.missingProperty)}'`;
    case 'enum':
      return `must be one of ${(p.allowedValues as unknown[]).map(String).join(', ')}`;
    case 'type':
      return `must be ${String(p.type)}`;
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return `must be ${String(p.comparison)} ${String(p.limit)}`;
    case 'pattern':
      return `must match pattern ${String(p.pattern)}`;
    case 'const':
      return `must be ${JSON.stringify(p.allowedValue)}`;
    default:
      return err.message ?? 'is invalid';
  }
}
