import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** What `npm pack --json` reports about the tarball it wrote. */
export interface PackResult {
  filename: string;
  integrity: string;
  size: number;
  unpackedSize: number;
  files: { path: string; size: number }[];
}

interface LockEntry {
  dev?: boolean;
  [key: string]: unknown;
}

/**
 * npm's own environment variables leak into children when the suite runs under `npm test`
 * (npm_package_*, npm_lifecycle_*, npm_config_local_prefix); a child npm in another folder
 * would read them as its own. The cache and registry settings are kept.
 */
export function npmEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    const lower = key.toLowerCase();
    if (lower.startsWith('npm_') && !['npm_config_cache', 'npm_config_registry', 'npm_config_userconfig'].includes(lower)) continue;
    if (lower === 'init_cwd') continue;
    env[key] = value;
  }
  return env;
}

/**
 * Packs the repository into `dest`. `--ignore-scripts` skips the `prepack` build: the suite runs
 * on a fresh `npm run build`, and rebuilding dist/ under a running mocha would rewrite the
 * files it executes.
 */
export async function packRepo(repoRoot: string, dest: string): Promise<PackResult> {
  const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dest], {
    cwd: repoRoot,
    env: npmEnv(),
    maxBuffer: 16 * 1024 * 1024,
  });
  const [result] = JSON.parse(stdout) as PackResult[];
  if (!result) throw new Error(`npm pack reported nothing: ${stdout}`);
  return result;
}

/**
 * Installs the tarball into `folder` (which must hold it) the way a user's project would, but
 * without the network. npm resolves a dependency range from registry metadata, which the
 * repository's own `npm ci` never caches; so the scratch project gets a lockfile pinning
 * callpop's production dependencies to the versions in the repository's lock, and `npm ci
 * --offline` takes their tarballs from the cache that `npm ci` filled. If the cache lacks one
 * (a cache cleared since), `--prefer-offline` fetches only what is missing.
 * `--ignore-scripts`: nothing may need a native build to import `callpop`.
 */
export async function installTarball(repoRoot: string, folder: string, pack: PackResult): Promise<void> {
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
    version: string;
    license: string;
    dependencies: Record<string, string>;
    bin: Record<string, string>;
    engines: Record<string, string>;
  };
  const repoLock = JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  const spec = `file:${pack.filename}`;
  const packages: Record<string, unknown> = {
    '': { name: 'callpop-scratch', dependencies: { callpop: spec } },
    'node_modules/callpop': {
      version: pkg.version,
      resolved: spec,
      integrity: pack.integrity,
      license: pkg.license,
      dependencies: pkg.dependencies,
      bin: pkg.bin,
      engines: pkg.engines,
    },
  };
  // The repository's production tree, hoisted the same way, becomes the scratch project's tree.
  for (const [path, entry] of Object.entries(repoLock.packages)) {
    if (path !== '' && !entry.dev) packages[path] = entry;
  }
  writeFileSync(join(folder, 'package.json'), JSON.stringify({ name: 'callpop-scratch', private: true, type: 'module', dependencies: { callpop: spec } }, null, 2));
  writeFileSync(join(folder, 'package-lock.json'), JSON.stringify({ name: 'callpop-scratch', lockfileVersion: 3, requires: true, packages }, null, 2));
  const args = ['ci', '--ignore-scripts', '--no-audit', '--no-fund'];
  const options = { cwd: folder, env: npmEnv(), maxBuffer: 16 * 1024 * 1024 };
  try {
    await run('npm', [...args, '--offline'], options);
  } catch {
    await run('npm', [...args, '--prefer-offline'], options);
  }
}
