import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { isCallpopError } from '../src/model/errors.js';
import { agentResolver, asteriskConfigSchema } from '../src/pbx/asterisk/asterisk-config.js';

function validator() {
  return new Ajv({ allErrors: true, useDefaults: true, strict: true }).compile(asteriskConfigSchema);
}

describe('Asterisk config', () => {
  it('accepts the documented example, whose values are the schema defaults', () => {
    const text = readFileSync(join(process.cwd(), 'config.example.yaml'), 'utf8').replace('${env:CALLPOP_AMI_SECRET}', 'from-env');
    const entry = (parse(text) as { pbx: Record<string, unknown>[] }).pbx.find((p) => p.type === 'asterisk') ?? {};
    const validate = validator();
    assert.equal(validate(entry), true, JSON.stringify(validate.errors));
    const minimal: Record<string, unknown> = { type: 'asterisk', id: 'pbx-berlin', host: '10.0.0.5', username: 'callpop', secret: 'from-env' };
    assert.equal(validate(minimal), true);
    assert.deepEqual(entry, minimal, 'the documented values are the defaults');
  });

  it('rejects a port out of range and an unknown key with the key path', () => {
    const validate = validator();
    assert.equal(validate({ type: 'asterisk', id: 'a', host: 'h', username: 'u', secret: 's', port: 70000, reconect: {} }), false);
    const paths = (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`).join('\n');
    assert.match(paths, /\/port/);
    assert.match(paths, /reconect/);
  });

  it('says which pbx has an invalid agents.pattern', () => {
    assert.throws(
      () => agentResolver({ map: {}, pattern: '^(PJSIP/(\\d+)$' }, 'pbx pbx-berlin: agents'),
      (err: unknown) => isCallpopError(err, 'CALLPOP_CONFIG_INVALID') && /pbx-berlin: agents\.pattern/.test((err as Error).message),
    );
  });
});
