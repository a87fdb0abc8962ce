import { CallpopError } from '../model/errors.js';

/**
 * Resolves `${env:NAME}` (and `${env:NAME:-default}`) in string values after the YAML is
 * parsed, so a value can never inject YAML structure. Errors name the key path and the
 * variable, never a value.
 */
const ENV_REF = /\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

export function substituteEnv(value: unknown, env: NodeJS.ProcessEnv, path = ''): unknown {
  if (typeof value === 'string') return substituteString(value, env, path);
  if (Array.isArray(value)) return value.map((item, i) => substituteEnv(item, env, `${path}[${i}]`));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      out[key] = substituteEnv(item, env, path ? `${path}.${key}` : key);
    }
    return out;
  }
  return value;
}

function substituteString(text: string, env: NodeJS.ProcessEnv, path: string): string {
  return text.replace(ENV_REF, (_match, name: string, fallback: string | undefined) => {
    const found = env[name];
    if (found !== undefined && found !== '') return found;
    if (fallback !== undefined) return fallback;
    throw new CallpopError(
      'CALLPOP_CONFIG_ENV_MISSING',
      `${path}: environment variable ${name} is not set (the config refers to it as \${env:${name}})`,
    );
  });
}
