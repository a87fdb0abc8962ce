import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONFIG_LIMITS } from '../src/config/config-limits.js';
import { loadConfig, parseConfig } from '../src/config/load-config.js';
import { isCallpopError } from '../src/model/errors.js';

const AMI_SECRET = 'inline-ami-s3cret';
const AGENT_TOKEN = 'inline-agent-token';

/** A valid config; `secret` and `token` as given (inline values or `${env:...}`). */
function configText(secret: string, token: string, extra = ''): string {
  return `pbx:
  - id: main
    type: asterisk
    host: 127.0.0.1
    username: callpop
    secret: ${secret}
connectors:
  - name: crm
    type: sql
    driver: sqlite
    file: crm.sqlite
    lookup_query: "SELECT * FROM customers WHERE phone = :number"
hub:
  port: 0
  tokens:
    - token: ${token}
      agents: ["1001"]
${extra}`;
}

const source = { file: 'callpop.yaml', baseDir: '/tmp' };
const env = { TEST_AMI_SECRET: 'from-env-secret', TEST_AGENT_TOKEN: 'from-env-token' };

async function errorOf(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await promise;
  } catch (err) {
    return err as Error & { code?: string };
  }
  assert.fail('the config was accepted');
}

/** `count` entries of one mapping table: two values (key and value) each. */
function tableOf(count: number): string {
  const rows: string[] = [];
  for (let i = 0; i < count; i++) rows.push(`      k${i}: v${i}`);
  return `mapping:\n  templates:\n    - name: default\n      fields:\n        name: first_name\n  tables:\n    big:\n${rows.join('\n')}\n`;
}

const ALIAS_BOMB = ['a: &a ["x","x","x","x","x","x","x","x","x"]', 'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]', 'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]', 'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]', 'e: [*d,*d,*d,*d,*d,*d,*d,*d,*d]', ''].join('\n');

describe('config loading under hostile input', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'callpop-config-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('names the file, line and key path of a duplicate key', async () => {
    const text = configText('${env:TEST_AMI_SECRET}', '${env:TEST_AGENT_TOKEN}').replace('  port: 0\n', '  port: 0\n  port: 1\n');
    const err = await errorOf(parseConfig(text, source, { env }));
    assert.ok(isCallpopError(err, 'CALLPOP_CONFIG_INVALID'), String(err));
    assert.match(err.message, /callpop\.yaml: line 15, column 3: hub\.port: duplicate key/);
  });

  it('finds a duplicate key among many, in a list item', async () => {
    const text = configText('${env:TEST_AMI_SECRET}', '${env:TEST_AGENT_TOKEN}', tableOf(5000)).replace('    host: 127.0.0.1\n', '    host: 127.0.0.1\n    host: 127.0.0.2\n');
    const err = await errorOf(parseConfig(text, source, { env }));
    assert.match(err.message, /line 5, column 5: pbx\[0\]\.host: duplicate key/);
  });

  it('refuses a file larger than the byte limit before parsing it', async () => {
    const file = join(dir, 'huge.yaml');
    await writeFile(file, `# ${'x'.repeat(CONFIG_LIMITS.maxBytes)}\n`);
    const err = await errorOf(loadConfig(file, { env }));
    assert.ok(isCallpopError(err, 'CALLPOP_CONFIG_TOO_LARGE'), String(err));
    assert.match(err.message, new RegExp(`huge\\.yaml: .*limit of ${CONFIG_LIMITS.maxBytes} bytes`));
  });

  it('refuses a config with more values than the limit, naming the limit', async () => {
    const text = configText('${env:TEST_AMI_SECRET}', '${env:TEST_AGENT_TOKEN}', tableOf(CONFIG_LIMITS.maxNodes / 2 + 1));
    const err = await errorOf(parseConfig(text, source, { env }));
    assert.ok(isCallpopError(err, 'CALLPOP_CONFIG_TOO_LARGE'), String(err));
    assert.match(err.message, new RegExp(`callpop\\.yaml: .*more than ${CONFIG_LIMITS.maxNodes} values`));
  });

  it('refuses an alias bomb as an invalid config naming the alias expansions', async () => {
    const err = await errorOf(parseConfig(ALIAS_BOMB, source, { env }));
    assert.ok(isCallpopError(err, 'CALLPOP_CONFIG_INVALID'), String(err));
    assert.match(err.message, /callpop\.yaml: too many alias expansions/);
  });

  it('refuses a deeply nested file as an invalid config', async () => {
    const depth = 5000;
    const err = await errorOf(parseConfig(`x: ${'['.repeat(depth)}${']'.repeat(depth)}\n`, source, { env }));
    assert.ok(isCallpopError(err, 'CALLPOP_CONFIG_INVALID'), String(err));
    assert.match(err.message, /nested (more than|too deeply)/);
  });

  it('has `callpop check` print an alias bomb as a config error, exit 2, without a stack trace', async () => {
    const file = join(dir, 'bomb.yaml');
    await writeFile(file, ALIAS_BOMB);
    const result = await new Promise<{ code: number | null; stderr: string; stdout: string }>((done) => {
      execFile(process.execPath, ['bin/callpop', 'check', '-c', file], { timeout: 20_000 }, (err, stdout, stderr) => {
        done({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr });
      });
    });
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /callpop: bomb\.yaml: invalid configuration:\n {2}bomb\.yaml: too many alias expansions/);
    assert.doesNotMatch(result.stderr + result.stdout, /unexpected error|\n\s+at /);
  });

  it('warns when a file others can read holds inline secrets, naming mode and keys but no value', async () => {
    const file = join(dir, 'readable.yaml');
    await writeFile(file, configText(AMI_SECRET, AGENT_TOKEN));
    await chmod(file, 0o644);
    const config = await loadConfig(file, { env });
    assert.equal(config.warnings.length, 1, config.warnings.join('\n'));
    const warning = config.warnings[0] ?? '';
    assert.match(warning, /^readable\.yaml: mode 0644 .* inline at hub\.tokens\[0\]\.token, pbx\[0\]\.secret; run chmod 600 readable\.yaml, or take them from the environment/);
    assert.ok(!warning.includes(AMI_SECRET) && !warning.includes(AGENT_TOKEN), 'no secret value in the warning');
  });

  it('does not warn about inline secrets in a file only its owner can read', async () => {
    const file = join(dir, 'private.yaml');
    await writeFile(file, configText(AMI_SECRET, AGENT_TOKEN));
    await chmod(file, 0o600);
    assert.deepEqual((await loadConfig(file, { env })).warnings, []);
  });

  it('does not warn about a readable file whose secrets come from the environment', async () => {
    const file = join(dir, 'env.yaml');
    await writeFile(file, configText('${env:TEST_AMI_SECRET}', '${env:TEST_AGENT_TOKEN}'));
    await chmod(file, 0o644);
    assert.deepEqual((await loadConfig(file, { env })).warnings, []);
  });
});
