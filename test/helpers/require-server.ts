import { existsSync } from 'node:fs';

/**
 * Finds a server binary a suite needs. Missing: the suite is skipped with a loud reason,
 * except under CI=true, where a missing server is a failure (CI installs them all).
 */
export function requireBinary(ctx: Mocha.Context, name: string, candidates: readonly string[]): string {
  const found = candidates.find((path) => existsSync(path));
  if (found) return found;
  const reason = `${name} not found (looked in ${candidates.join(', ')}); install it (see .ci/run) to run this suite`;
  if (process.env.CI === 'true') throw new Error(`CI=true and ${reason}`);
  console.warn(`\n  !!! SKIPPING: ${reason}\n`);
  ctx.skip();
}
