import { CallpopError } from '../model/errors.js';

/**
 * Where in the config file a compile step is looking, so every error names the file, the
 * template and the key path: `config.yaml: mapping.templates[1] (vip).fields.tier.expr: ...`.
 */
export class ConfigSite {
  constructor(
    readonly file: string,
    readonly path: string,
  ) {}

  /** The site of a child key. */
  key(name: string): ConfigSite {
    const plain = /^[A-Za-z_$][A-Za-z0-9_$-]*$/.test(name);
    return new ConfigSite(this.file, plain ? `${this.path}.${name}` : `${this.path}[${JSON.stringify(name)}]`);
  }

  /** The site of an array item, with an optional name shown after it (`templates[1] (vip)`). */
  index(i: number, label?: string): ConfigSite {
    return new ConfigSite(this.file, `${this.path}[${i}]${label === undefined ? '' : ` (${label})`}`);
  }

  error(problem: string): CallpopError {
    return new CallpopError('CALLPOP_MAPPING_INVALID', `${this.file}: ${this.path}: ${problem}`);
  }

  fail(problem: string): never {
    throw this.error(problem);
  }
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Fails on any key of `obj` not in `allowed`, naming the allowed ones (catches typos like `hide_form`). */
export function checkKeys(site: ConfigSite, obj: Record<string, unknown>, allowed: readonly string[]): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) site.key(key).fail(`unknown key; expected one of ${allowed.join(', ')}`);
  }
}

export function readStringList(site: ConfigSite, value: unknown): string[] {
  if (!Array.isArray(value)) site.fail('must be a list of strings');
  return value.map((item, i) => {
    if (typeof item !== 'string' || item === '') site.index(i).fail('must be a non-empty string');
    return item;
  });
}
