/**
 * Bounds on a config file, checked before the expensive steps so that a huge or hostile file
 * (SIGHUP parses on the daemon's only thread) is refused in bounded time. config.example.yaml
 * is ~15 KiB with a few hundred values; these allow ~70 times that, and tables of ~10,000
 * entries. They are lower than 8 MiB / 200,000 because the yaml parser needs ~2 s of CPU for
 * either of those (docs/decisions.md has the figures); at these limits a load takes a few
 * hundred ms. Larger data belongs in a connector (SQL), not in the config.
 */
export const CONFIG_LIMITS = {
  /** Bytes of the file. */
  maxBytes: 1024 * 1024,
  /** YAML values (scalars, aliases, flow collections), counted while lexing. */
  maxNodes: 20_000,
  /** Nesting of maps and lists; every later stage (env substitution, ajv, freezing) recurses. */
  maxDepth: 64,
  /** Alias expansions when the document is turned into data (a "billion laughs" file needs millions). */
  maxAliasCount: 100,
} as const;

export type ConfigLimits = { readonly [K in keyof typeof CONFIG_LIMITS]: number };
