import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ConnectorRegistry } from '../src/connectors/registry.js';
import { isCallpopError } from '../src/model/errors.js';
import { silentLogger } from '../src/model/logger.js';

const TEMPLATE = `
export default {
  type: 'echo',
  configSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['greeting'],
    properties: { greeting: { type: 'string' }, retries: { type: 'integer', default: 3 } },
  },
  create(config, ctx) {
    return {
      async lookup(query) { return [{ source: ctx.name, record: { greeting: config.greeting, retries: config.retries, number: query.number } }]; },
      async health() { return { ok: true, detail: 'echo' }; },
      async close() {},
    };
  },
};
`;

describe('connector registry', function () {
  let dir: string;
  const never = new AbortController().signal;

  before(function () {
    dir = mkdtempSync(join(tmpdir(), 'callpop-registry-'));
    writeFileSync(join(dir, 'echo.mjs'), TEMPLATE);
    writeFileSync(join(dir, 'not-a-connector.mjs'), 'export default { hello: 1 };\n');
    const db = new Database(join(dir, 'crm.sqlite'));
    db.exec("CREATE TABLE customers (id INTEGER PRIMARY KEY, phone TEXT); INSERT INTO customers VALUES (1, '+4930123456');");
    db.close();
  });

  after(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  const sqlBlock = (extra: Record<string, unknown> = {}) => ({
    name: 'crm',
    type: 'sql',
    file: 'crm.sqlite',
    lookup_query: 'SELECT id FROM customers WHERE phone = :number',
    ...extra,
  });

  it('accepts a valid sql block', async function () {
    assert.deepEqual(await new ConnectorRegistry().validate(sqlBlock(), 'connectors[0]', dir), []);
  });

  it('names the key path and the allowed values for a wrong driver', async function () {
    const errors = await new ConnectorRegistry().validate(sqlBlock({ driver: 'oracle' }), 'connectors[1]', dir);
    assert.deepEqual(errors, ['connectors[1].driver: must be one of sqlite, postgres, mysql']);
  });

  it('asks for url when the driver is postgres or mysql', async function () {
    const errors = await new ConnectorRegistry().validate(sqlBlock({ driver: 'postgres', file: undefined }), 'connectors[0]', dir);
    assert.deepEqual(errors, ['connectors[0].url: is required']);
  });

  it('asks for file when the driver is sqlite by default', async function () {
    const errors = await new ConnectorRegistry().validate({ name: 'crm', type: 'sql', lookup_query: 'SELECT 1' }, 'connectors[0]', dir);
    assert.deepEqual(errors, ['connectors[0].file: is required']);
  });

  it('names an unknown key and a wrong nested type', async function () {
    const errors = await new ConnectorRegistry().validate(sqlBlock({ lookup_qeury: 'x', pool: { max: 'ten' } }), 'connectors[2]', dir);
    assert.ok(errors.some((e) => e.startsWith('connectors[2].lookup_qeury: unknown key; expected one of driver, file, url')), errors.join('\n'));
    assert.ok(errors.includes('connectors[2].pool.max: must be integer'), errors.join('\n'));
  });

  it('reports a missing name and an unknown type', async function () {
    const errors = await new ConnectorRegistry().validate({ type: 'soap' }, 'connectors[3]', dir);
    assert.equal(errors[0], 'connectors[3].name: is required (a unique name for this connector)');
    assert.match(errors[1] ?? '', /^connectors\[3\]\.type: unknown connector type 'soap' \(known: sql/);
  });

  it('does not change the block it validates', async function () {
    const block = sqlBlock();
    await new ConnectorRegistry().validate(block, 'connectors[0]', dir);
    assert.deepEqual(block, sqlBlock());
  });

  it('creates an sql connector that finds a customer', async function () {
    const connector = await new ConnectorRegistry().create(sqlBlock(), { name: 'crm', logger: silentLogger, baseDir: dir });
    try {
      const matches = await connector.lookup({ number: '+4930123456', candidates: ['+4930123456'] }, never);
      assert.equal(matches[0]?.id, '1');
    } finally {
      await connector.close();
    }
  });

  it('refuses to create from an invalid block with a config error', async function () {
    await assert.rejects(
      new ConnectorRegistry().create(sqlBlock({ driver: 'oracle' }), { name: 'crm', logger: silentLogger, baseDir: dir }),
      (err: unknown) => isCallpopError(err, 'CALLPOP_CONNECTOR_CONFIG') && /driver: must be one of/.test(err.message),
    );
  });

  it('loads an external connector from the module the block names, with schema defaults', async function () {
    const registry = new ConnectorRegistry();
    const block = { name: 'hello', type: 'echo', module: './echo.mjs', greeting: 'hi' };
    assert.deepEqual(await registry.validate(block, 'connectors[0]', dir), []);
    const connector = await registry.create(block, { name: 'hello', logger: silentLogger, baseDir: dir });
    const [match] = await connector.lookup({ number: '123', candidates: [] }, never);
    assert.deepEqual(match, { source: 'hello', record: { greeting: 'hi', retries: 3, number: '123' } });
    assert.ok(registry.types().includes('echo'));
  });

  it("validates an external connector's block against its own schema", async function () {
    const errors = await new ConnectorRegistry().validate({ name: 'x', type: 'echo', module: './echo.mjs' }, 'connectors[4]', dir);
    assert.deepEqual(errors, ['connectors[4].greeting: is required']);
  });

  it('reports a module that defines another type', async function () {
    const errors = await new ConnectorRegistry().validate({ name: 'x', type: 'other', module: './echo.mjs', greeting: 'hi' }, 'connectors[0]', dir);
    assert.match(errors[0] ?? '', /^connectors\[0\]\.module: \.\/echo\.mjs defines connector type 'echo'/);
  });

  it('reports a module that is not a connector definition', async function () {
    const errors = await new ConnectorRegistry().validate({ name: 'x', type: 'y', module: './not-a-connector.mjs' }, 'connectors[0]', dir);
    assert.match(errors[0] ?? '', /^connectors\[0\]\.module: .*must export default a connector definition/);
  });

  it('reports a module file that does not exist', async function () {
    const errors = await new ConnectorRegistry().validate({ name: 'x', type: 'y', module: './missing.mjs' }, 'connectors[0]', dir);
    assert.match(errors[0] ?? '', /^connectors\[0\]\.module: cannot load connector module \.\/missing\.mjs/);
  });

  it('does not let a module replace a built-in type', async function () {
    writeFileSync(join(dir, 'fake-sql.mjs'), TEMPLATE.replace("type: 'echo'", "type: 'sql'"));
    const errors = await new ConnectorRegistry().validate({ name: 'x', type: 'sql', module: './fake-sql.mjs', greeting: 'hi' }, 'connectors[0]', dir);
    assert.match(errors[0] ?? '', /already registered/);
  });
});
