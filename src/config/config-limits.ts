/**
 * Bounds on a config file, checked before the expensive steps so that a huge or hostile file
 * (SIGHUP parses on the daemon's only thread) is refused in bounded time. Each is far above
 * any real config: the largest real ones are a few hundred KiB with a few thousand table
 * entries. docs/operations.md lists them; the measured load time at the limits is in
 * docs/decisions.md.
 */
export const CONFIG_LIMITS = {
  /** Bytes of the file. */
  maxBytes: 8 * 1024 * 1024,
  /** YAML values (scalars, aliases, flow collections), counted while lexing. */
  maxNodes: 200_000,
  /** Nesting of maps and lists; every later stage (env substitution, ajv, freezing) recurses. */
  maxDepth: 64,
  /** Alias expansions when the document is turned into data (a "billion laughs" file needs millions). */
  maxAliasCount: 100,
} as const;

export type ConfigLimits = { readonly [K in keyof typeof CONFIG_LIMITS]: number };
