/**
 * `callpop/testing`: the connector conformance kit. Kept out of the main entry point because
 * it registers mocha `describe`/`it` blocks and so only makes sense inside a test run.
 */

/**
 * Registers mocha tests for what the lookup stage relies on (a miss is `[]`, aborts reject
 * promptly, hostile caller numbers are data, ...). Call it from a test file with a factory
 * that creates your connector against a test CRM; the kit closes the connector afterwards.
 */
export { describeConnectorConformance } from './connectors/conformance.js';

/** What the conformance factory resolves: the connector, a number the CRM knows and one it does not. */
export type { ConformanceFixture } from './connectors/conformance.js';

/** The hostile caller IDs the kit tries, for connector authors who want them in their own tests. */
export { HOSTILE_NUMBERS } from './connectors/conformance.js';
