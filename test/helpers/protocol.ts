import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import type { Received } from './ws-client.js';

const protocolSchema = JSON.parse(readFileSync(join(process.cwd(), 'docs/protocol.schema.json'), 'utf8')) as object;
const ajv = new Ajv({ strict: false });
ajv.addSchema(protocolSchema, 'protocol');

/** Fails unless `message` matches its definition in docs/protocol.schema.json. */
export function assertProtocol(message: Received): void {
  const validate = ajv.getSchema(`protocol#/definitions/${message.type}`);
  assert.ok(validate, `docs/protocol.schema.json has no definition for ${message.type}`);
  assert.ok(validate(message), `${message.type} does not match docs/protocol.schema.json: ${ajv.errorsText(validate.errors)}`);
}
