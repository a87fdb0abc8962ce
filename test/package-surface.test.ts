import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ConnectorRegistry } from '../src/connectors/registry.js';
import { markedCodeBlocks } from './helpers/doc-code-blocks.js';
import { installTarball, packRepo, type PackResult } from './helpers/scratch-install.js';

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const repoModules = join(repoRoot, 'node_modules');

/**
 * What an integrator gets from npm: the packed tarball, installed into a project outside the
 * repository, with a connector written in TypeScript from docs/connectors.md, compiled by the
 * repository's tsc against the installed declarations and tested with the installed kit.
 */
describe('the published package, as an external connector author uses it', function () {
  // pack + offline install + tsc + a mocha child: tens of seconds on a slow CI machine.
  this.timeout(180_000);

  let tmp = '';
  let scratch = '';
  let pack: PackResult;

  before(async function () {
    tmp = mkdtempSync(join(tmpdir(), 'callpop-package-'));
    scratch = join(tmp, 'project');
    mkdirSync(join(scratch, 'src'), { recursive: true });
    pack = await packRepo(repoRoot, scratch);
    await installTarball(repoRoot, scratch, pack);
  });

  after(function () {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('packs the entry points, the CLI and the docs, but not the tests, benches or sources', function () {
    const paths = pack.files.map((f) => f.path);
    for (const needed of ['package.json', 'bin/callpop', 'config.example.yaml', 'docs/connectors.md', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/testing.js', 'dist/src/testing.d.ts', 'dist/src/cli/main.js']) {
      assert.ok(paths.includes(needed), `the tarball lacks ${needed}`);
    }
    const unwanted = paths.filter((p) => /^(dist\/test|dist\/bench|src|test|bench)\//.test(p) || p.endsWith('.map'));
    assert.deepEqual(unwanted, []);
    // 0.1.0 unpacks to about 0.8 MB; a tarball several times that has picked up something it should not.
    assert.ok(pack.unpackedSize < 3_000_000, `the package unpacks to ${pack.unpackedSize} bytes`);
  });

  it('imports callpop and callpop/testing without loading any dependency, and refuses deep imports', async function () {
    const log = join(tmp, 'resolved.log');
    // A loader hook records every module callpop's own files import, so the check sees the
    // whole import graph of both entry points, not just their first line.
    writeFileSync(
      join(scratch, 'record-hooks.mjs'),
      `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  if ((context.parentURL ?? '').includes('/node_modules/callpop/')) appendFileSync(${JSON.stringify(log)}, result.url + '\\n');
  return result;
}
`,
    );
    writeFileSync(join(scratch, 'record.mjs'), `import { register } from 'node:module';\nregister('./record-hooks.mjs', import.meta.url);\n`);
    writeFileSync(
      join(scratch, 'import-entry-points.mjs'),
      `const main = await import('callpop');
const testing = await import('callpop/testing');
let deep = 'imported';
try { await import('callpop/dist/src/connectors/registry.js'); } catch (err) { deep = err.code; }
console.log(JSON.stringify({ main: Object.keys(main).sort(), testing: Object.keys(testing).sort(), deep }));
`,
    );
    const { stdout } = await run(process.execPath, ['--import', './record.mjs', 'import-entry-points.mjs'], { cwd: scratch, timeout: 60_000 });
    const seen = JSON.parse(stdout) as { main: string[]; testing: string[]; deep: string };
    assert.deepEqual(seen.main, ['CallpopError', 'defineConnector', 'describeError', 'isCallpopError', 'silentLogger']);
    assert.deepEqual(seen.testing, ['HOSTILE_NUMBERS', 'describeConnectorConformance']);
    assert.equal(seen.deep, 'ERR_PACKAGE_PATH_NOT_EXPORTED');

    const resolved = readFileSync(log, 'utf8').trim().split('\n');
    assert.ok(resolved.some((url) => url.endsWith('/node_modules/callpop/dist/src/connectors/contract.js')), 'the hook saw the import graph');
    const foreign = resolved.filter((url) => !url.startsWith('node:') && !url.includes('/node_modules/callpop/'));
    assert.deepEqual(foreign, [], 'callpop loaded a dependency at import time');
  });

  describe('the connector template of docs/connectors.md', function () {
    before(async function () {
      const blocks = markedCodeBlocks(join(repoRoot, 'docs/connectors.md'), 'package-surface');
      assert.deepEqual([...blocks.keys()].sort(), ['legacy-crm.test.ts', 'legacy-crm.ts']);
      for (const [name, code] of blocks) writeFileSync(join(scratch, 'src', name), code);
      writeFileSync(
        join(scratch, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: {
            target: 'ES2022',
            module: 'NodeNext',
            moduleResolution: 'NodeNext',
            strict: true,
            noUncheckedIndexedAccess: true,
            // Checks callpop's shipped .d.ts files too: a broken declaration fails here.
            skipLibCheck: false,
            rootDir: 'src',
            outDir: 'out',
            // The scratch project installs only callpop; node's and mocha's types are the repo's.
            typeRoots: [join(repoModules, '@types')],
            types: ['node', 'mocha'],
          },
          include: ['src'],
        }),
      );
      try {
        await run(process.execPath, [join(repoModules, 'typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: scratch, timeout: 120_000 });
      } catch (err) {
        const { stdout, stderr } = err as { stdout?: string; stderr?: string };
        throw new Error(`the docs' connector template does not compile against the installed package:\n${stdout ?? ''}${stderr ?? ''}`);
      }
    });

    it('passes its own lookup test and the conformance kit, run by mocha', async function () {
      const report = join(tmp, 'mocha-report.json');
      const args = [join(repoModules, 'mocha/bin/mocha.js'), '--reporter', 'json', '--reporter-option', `output=${report}`, '--timeout', '20000', '--exit', 'out/legacy-crm.test.js'];
      // A failing test makes mocha exit non-zero; the report says which, so read it either way.
      await run(process.execPath, args, { cwd: scratch, timeout: 120_000 }).catch(() => undefined);
      const result = JSON.parse(readFileSync(report, 'utf8')) as {
        stats: { passes: number; failures: number; pending: number };
        passes: { fullTitle: string }[];
        failures: { fullTitle: string; err: { message?: string } }[];
      };
      assert.deepEqual(result.failures.map((f) => `${f.fullTitle}: ${f.err.message ?? ''}`), []);
      const passed = result.passes.map((p) => p.fullTitle);
      assert.ok(passed.includes('legacy-crm connector finds the customer the CRM has for a number'), passed.join('\n'));
      assert.ok(passed.filter((t) => t.startsWith('connector conformance: legacy-crm ')).length >= 5, passed.join('\n'));
      assert.equal(result.stats.pending, 0);
    });

    it('loads in callpop as an external connector module, with its config schema', async function () {
      const registry = new ConnectorRegistry();
      const module = join(scratch, 'out/legacy-crm.js');
      assert.deepEqual(await registry.validate({ name: 'legacy', type: 'legacy-crm', module, base_url: 'http://127.0.0.1:9' }, 'connectors[0]', scratch), []);
      const errors = await registry.validate({ name: 'legacy', type: 'legacy-crm', module, max_results: 0 }, 'connectors[0]', scratch);
      assert.ok(errors.some((e) => e.startsWith('connectors[0].base_url')), errors.join('\n'));
      assert.ok(errors.some((e) => e.startsWith('connectors[0].max_results')), errors.join('\n'));
    });
  });
});
