/**
 * Finds secrets written into the config file itself rather than taken from the environment.
 * A schema marks a secret key with the JSON Schema annotation `writeOnly: true` (written into
 * the config, never read back into logs or messages), so a connector or PBX adapter declares
 * its own secrets. Only key paths are returned, never values.
 */

interface SchemaNode {
  writeOnly?: boolean;
  properties?: Record<string, SchemaNode>;
  additionalProperties?: SchemaNode | boolean;
  items?: SchemaNode;
}

/**
 * Key paths under `path` whose schema is `writeOnly` and whose value in `raw` (the parsed
 * file, before `${env:...}` substitution) is written inline. Bounded by the value's size: it
 * walks only keys present in `raw`.
 */
export function inlineSecretPaths(schema: object | undefined, raw: unknown, path: string): string[] {
  const found: string[] = [];
  const stack: { schema: SchemaNode | undefined; raw: unknown; path: string }[] = [{ schema: schema as SchemaNode | undefined, raw, path }];
  while (stack.length > 0) {
    const { schema: node, raw: value, path: at } = stack.pop()!;
    if (!node || value === null || value === undefined) continue;
    if (node.writeOnly === true) {
      if (isInlineSecret(value)) found.push(at);
      continue;
    }
    if (Array.isArray(value)) {
      if (node.items) value.forEach((item, i) => stack.push({ schema: node.items, raw: item, path: `${at}[${i}]` }));
      continue;
    }
    if (typeof value !== 'object') continue;
    for (const [key, item] of Object.entries(value)) {
      const child = node.properties?.[key] ?? (typeof node.additionalProperties === 'object' ? node.additionalProperties : undefined);
      stack.push({ schema: child, raw: item, path: at ? `${at}.${key}` : key });
    }
  }
  return found.sort();
}

/**
 * Inline: a non-empty string with no `${env:...}` reference. A URL counts only when it
 * carries a password (`scheme://user:password@host`): `postgres://db.local/crm` holds none.
 */
function isInlineSecret(value: unknown): boolean {
  if (typeof value !== 'string' || value === '' || value.includes('${env:')) return false;
  const url = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)/.exec(value);
  if (url) return /^[^@]*:[^@]*@/.test(url[1] ?? '');
  return true;
}

/** Group or others may read the file (mode bits 0o044). */
export function readableByOthers(mode: number): boolean {
  return (mode & 0o044) !== 0;
}

/** The warning for an admin; names file, mode and keys, never a value. */
export function inlineSecretWarning(file: string, mode: number, paths: readonly string[]): string {
  const octal = `0${(mode & 0o777).toString(8)}`;
  return (
    `${file}: mode ${octal} lets other users read the file, and it holds secrets inline at ${paths.join(', ')}; ` +
    `run chmod 600 ${file}, or take them from the environment (e.g. secret: \${env:NAME})`
  );
}
