import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { configSchema } from '../src/config/config-schema.js';
import { loadConfig, parseConfig } from '../src/config/load-config.js';
import { sqlConnector } from '../src/connectors/sql/sql-connector.js';
import { asteriskConfigSchema } from '../src/pbx/asterisk/asterisk-config.js';
import { freeswitchConfigSchema } from '../src/pbx/freeswitch/freeswitch-config.js';
import { isCallpopError } from '../src/model/errors.js';

const BASE = `
pbx:
  - id: main
    type: asterisk
    host: 127.0.0.1
    port: 5038
    username: callpop
    secret: \${env:TEST_AMI_SECRET}
connectors:
  - name: crm
    type: sql
    driver: sqlite
    file: crm.sqlite
    lookup_query: "SELECT * FROM customers WHERE phone = :number"
mapping:
  templates:
    - name: default
      fields:
        name: first_name
hub:
  port: 0
  tokens:
    - token: \${env:TEST_AGENT_TOKEN}
      agents: ["1001"]
`;

/** Every property name a JSON Schema declares, at any depth. */
function schemaKeys(schema: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(schema)) {
    for (const item of schema) schemaKeys(item, out);
  } else if (schema && typeof schema === 'object') {
    for (const [key, value] of Object.entries(schema)) {
      if (key === 'properties' && value && typeof value === 'object') {
        for (const name of Object.keys(value)) out.add(name);
      }
      schemaKeys(value, out);
    }
  }
  return out;
}

const env = { TEST_AMI_SECRET: 's3cret-value', TEST_AGENT_TOKEN: 'agent-token-123' };
const source = { file: 'callpop.yaml', baseDir: '/tmp' };

async function problemsOf(text: string, vars: NodeJS.ProcessEnv = env): Promise<string> {
  try {
    await parseConfig(text, source, { env: vars });
  } catch (err) {
    assert.ok(isCallpopError(err), `expected a CallpopError, got ${String(err)}`);
    return err.message;
  }
  assert.fail('the config was accepted');
}

describe('config loading', () => {
  it('accepts a valid config and fills the defaults from the schema', async () => {
    const config = await parseConfig(BASE, source, { env });
    assert.equal(config.pbx[0]?.id, 'main');
    assert.equal(config.hub.heartbeat_ms, 30000);
    assert.equal(config.lookup.pop_deadline_ms, 800);
    assert.equal(config.store.file, 'callpop.sqlite');
    assert.ok(Object.isFrozen(config.hub), 'stages get a frozen config');
  });

  it('resolves ${env:NAME} secrets from the environment', async () => {
    const config = await parseConfig(BASE, source, { env });
    assert.equal(config.pbx[0]?.secret, 's3cret-value');
    assert.equal(config.hub.tokens[0]?.token, 'agent-token-123');
  });

  it('names the key and the variable when a secret is missing from the environment, without any value', async () => {
    const message = await problemsOf(BASE, { TEST_AGENT_TOKEN: 'agent-token-123' });
    assert.match(message, /callpop\.yaml: pbx\[0\]\.secret: environment variable TEST_AMI_SECRET is not set/);
  });

  it('names the file, the key path and the expected type for a wrong value', async () => {
    const message = await problemsOf(BASE.replace('port: 5038', 'port: "five"'));
    assert.match(message, /callpop\.yaml: pbx\[0\]\.port: must be integer/);
  });

  it('lists the allowed values for an enum key', async () => {
    const message = await problemsOf(BASE.replace('driver: sqlite', 'driver: oracle'));
    assert.match(message, /connectors\[0\]\.driver: must be one of sqlite, postgres, mysql/);
  });

  it('reports an unknown key instead of ignoring a typo', async () => {
    const message = await problemsOf(BASE.replace('  port: 0', '  prot: 0'));
    assert.match(message, /callpop\.yaml: hub\.prot: unknown key; expected one of host, port, path/);
  });

  it('reports a YAML syntax error with its line', async () => {
    const message = await problemsOf(`${BASE}\n  bad: [unclosed\n`);
    assert.match(message, /callpop\.yaml: .*line \d+/);
  });

  it('refuses a lookup source that names no connector', async () => {
    const message = await problemsOf(`${BASE}\nlookup:\n  sources:\n    - connector: nowhere\n`);
    assert.match(message, /lookup\.sources\[0\]: no connector named 'nowhere'/);
  });

  it('refuses duplicate PBX ids', async () => {
    const twice = BASE.replace('connectors:', `  - id: main\n    type: asterisk\n    host: 127.0.0.1\n    username: u\n    secret: x\nconnectors:`);
    const message = await problemsOf(twice);
    assert.match(message, /pbx\[1\]\.id: duplicate id 'main'/);
  });

  it('refuses a config without any agent token, saying how to add one', async () => {
    const message = await problemsOf(BASE.replace(/hub:[\s\S]*$/, 'hub:\n  port: 0\n'), env);
    assert.match(message, /hub\.tokens: add at least one token/);
  });

  it('says which file could not be read', async () => {
    await assert.rejects(loadConfig('/nonexistent/callpop.yaml'), (err: unknown) => isCallpopError(err, 'CALLPOP_CONFIG_READ') && /callpop\.yaml: cannot read the config file \(ENOENT\)/.test(err.message));
  });

  it('loads config.example.yaml as shipped, with its secrets from the environment', async () => {
    const config = await loadConfig(join(process.cwd(), 'config.example.yaml'), {
      env: { CALLPOP_AMI_SECRET: 'x', CALLPOP_FS_PASSWORD: 'ClueCon', CALLPOP_AGENT_TOKEN: 'token-for-test', CALLPOP_ADMIN_TOKEN: 'admin-token-for-test' },
    });
    assert.deepEqual(config.pbx.map((p) => p.type), ['asterisk', 'freeswitch']);
    assert.equal(config.hub.tokens[0]?.token, 'token-for-test');
  });

  it('documents every config key of every schema in config.example.yaml', () => {
    const example = readFileSync(join(process.cwd(), 'config.example.yaml'), 'utf8');
    const schemas: [string, object][] = [
      ['top level', configSchema],
      ['asterisk', asteriskConfigSchema],
      ['freeswitch', freeswitchConfigSchema],
      ['sql connector', sqlConnector.configSchema],
    ];
    const missing: string[] = [];
    for (const [name, schema] of schemas) {
      for (const key of schemaKeys(schema)) {
        if (!new RegExp(`(^|[\\s{,#])${key}:`, 'm').test(example)) missing.push(`${name}: ${key}`);
      }
    }
    assert.deepEqual(missing, []);
  });
});
