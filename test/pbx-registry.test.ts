import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { validateConfig } from '../src/config/load-config.js';
import { isCallpopError } from '../src/model/errors.js';
import type { PbxAdapter, PbxAdapterDefinition } from '../src/pbx/pbx-adapter.js';
import { pbxDefinitions, pbxTypes } from '../src/pbx/pbx-registry.js';

/** A third PBX type that exists only in this test: its own schema, nothing else edited. */
const fakePbx: PbxAdapterDefinition<{ id: string; endpoint: string; retries: number }> = {
  type: 'fakepbx',
  configSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['id', 'type', 'endpoint'],
    properties: {
      id: { type: 'string' },
      type: { const: 'fakepbx' },
      endpoint: { type: 'string', minLength: 1 },
      retries: { type: 'integer', minimum: 0, default: 3 },
    },
  },
  create(config) {
    return Object.assign(new EventEmitter(), {
      id: config.id,
      type: 'fakepbx',
      start() {},
      async stop() {},
      agentFor: () => null,
      check: async () => ({ ok: true, detail: 'fake' }),
    }) as unknown as PbxAdapter;
  },
};

const source = { file: 'callpop.yaml', baseDir: '/tmp' };

function configWith(pbx: Record<string, unknown>): Record<string, unknown> {
  return {
    pbx: [pbx],
    connectors: [{ name: 'crm', type: 'sql', driver: 'sqlite', file: 'crm.sqlite', lookup_query: 'SELECT * FROM customers WHERE phone = :number' }],
    hub: { tokens: [{ token: 'agent-token-123', agents: ['*'] }] },
  };
}

async function problemsOf(value: unknown, definitions: readonly PbxAdapterDefinition<any>[]): Promise<string[]> {
  try {
    await validateConfig(value, source, { pbx: definitions });
  } catch (err) {
    assert.ok(isCallpopError(err, 'CALLPOP_CONFIG_INVALID'), String(err));
    return (err as unknown as { problems: string[] }).problems;
  }
  assert.fail('the config was accepted');
}

describe('PBX registry', () => {
  const withFake = [...pbxDefinitions, fakePbx];

  it('accepts a PBX type registered only in a test registry, with the defaults of its own schema', async () => {
    const config = await validateConfig(configWith({ id: 'lab', type: 'fakepbx', endpoint: 'loopback' }), source, { pbx: withFake });
    assert.equal(config.pbx[0]?.type, 'fakepbx');
    assert.equal(config.pbx[0]?.retries, 3);
  });

  it('checks the registered type against its own schema, worded like every other config error', async () => {
    const problems = await problemsOf(configWith({ id: 'lab', type: 'fakepbx', endpiont: 'x' }), withFake);
    assert.ok(problems.includes('pbx[0].endpoint: is required'), problems.join('\n'));
    assert.ok(problems.includes('pbx[0].endpiont: unknown key; expected one of id, type, endpoint, retries'), problems.join('\n'));
  });

  it('refuses the type in the built-in registry, listing the types it knows', async () => {
    const problems = await problemsOf(configWith({ id: 'lab', type: 'fakepbx', endpoint: 'loopback' }), pbxDefinitions);
    assert.deepEqual(problems, [`pbx[0].type: must be one of ${pbxTypes().join(', ')}`]);
  });

  it('names every built-in type once, from the registry', () => {
    assert.deepEqual(pbxTypes(), ['asterisk', 'freeswitch']);
    assert.deepEqual(pbxTypes(withFake), ['asterisk', 'freeswitch', 'fakepbx']);
  });
});
