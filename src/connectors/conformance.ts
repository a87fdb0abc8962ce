import assert from 'node:assert/strict';
import type { Connector, LookupQuery } from './contract.js';

/**
 * A conformance kit for connectors (docs/connectors.md "Testing your connector"). Call it from
 * a mocha test file; it registers `describe`/`it` blocks that check what the lookup stage
 * relies on. The built-in `sql` connector runs it on all three drivers.
 *
 * ```ts
 * import { describeConnectorConformance } from 'callpop/testing';
 * describeConnectorConformance('my-crm', async () => ({
 *   connector: await myCrm.create(config, ctx),
 *   knownNumber: '+4930123456',     // a number your test CRM has a customer for
 *   unknownNumber: '+4930999999',   // a number it has none for
 * }));
 * ```
 * The known number is passed as the first candidate, so use the form the CRM stores.
 */
export interface ConformanceFixture {
  connector: Connector;
  knownNumber: string;
  unknownNumber: string;
}

/** Caller IDs an attacker may send (SIP From header); each must be treated as plain data. */
export const HOSTILE_NUMBERS = [
  "' OR 1=1 --",
  "'; DROP TABLE customers; --",
  '" OR ""="',
  '%',
  '_',
  '*',
  '\\',
  '1) OR (1=1',
  ':number',
  '$1',
  '?',
  '${7*7}',
  '<script>alert(1)</script>',
  'x'.repeat(500),
];

/** How long "promptly" is: generous, so a loaded CI machine does not make the kit flaky. */
const PROMPT_MS = 5000;

export function describeConnectorConformance(name: string, factory: () => Promise<ConformanceFixture>): void {
  describe(`connector conformance: ${name}`, function () {
    let fixture: ConformanceFixture | undefined;
    const fx = (): ConformanceFixture => {
      assert.ok(fixture, 'the conformance fixture was not created');
      return fixture;
    };
    const query = (number: string): LookupQuery => ({ number, candidates: [number] });
    const signal = (): AbortSignal => new AbortController().signal;

    before(async function () {
      fixture = await factory();
    });

    after(async function () {
      await fixture?.connector.close();
    });

    it('returns an empty list, not an error, for a number it does not know', async function () {
      assert.deepEqual(await fx().connector.lookup(query(fx().unknownNumber), signal()), []);
    });

    it('returns a record for a number it knows', async function () {
      const matches = await fx().connector.lookup(query(fx().knownNumber), signal());
      assert.ok(matches.length >= 1, 'expected at least one match');
      for (const match of matches) {
        assert.equal(typeof match.source, 'string');
        assert.ok(match.record && typeof match.record === 'object' && !Array.isArray(match.record), 'record must be an object');
        if (match.id !== undefined) assert.equal(typeof match.id, 'string');
        assert.doesNotThrow(() => JSON.stringify(match.record), 'record must be JSON-serialisable');
      }
    });

    it('returns nothing when there are no candidates', async function () {
      assert.deepEqual(await fx().connector.lookup({ number: 'anonymous', candidates: [] }, signal()), []);
    });

    it('rejects promptly when the signal is already aborted', async function () {
      const controller = new AbortController();
      controller.abort(new Error('conformance abort'));
      await withinPrompt(assert.rejects(fx().connector.lookup(query(fx().knownNumber), controller.signal)));
    });

    it('rejects promptly when the signal aborts during the lookup, or finishes first', async function () {
      const controller = new AbortController();
      const pending = fx().connector.lookup(query(fx().knownNumber), controller.signal);
      controller.abort(new Error('conformance abort'));
      // A connector may legitimately have finished before the abort; it must not hang.
      await withinPrompt(pending.then(() => undefined, () => undefined));
    });

    it('reports itself healthy with a detail', async function () {
      const health = await fx().connector.health(signal());
      assert.equal(health.ok, true, health.detail);
      assert.equal(typeof health.detail, 'string');
      assert.ok(health.detail.length > 0);
    });

    it('treats hostile caller numbers as data and still finds the known customer afterwards', async function () {
      const known = await fx().connector.lookup(query(fx().knownNumber), signal());
      const knownRecords = new Set(known.map((m) => JSON.stringify(m.record)));
      for (const hostile of HOSTILE_NUMBERS) {
        const matches = await fx().connector.lookup(query(hostile), signal());
        // An injected `OR 1=1` or a wildcard would bring back every customer, the known one too.
        // (A CRM may legitimately store the hostile text itself; that record is not the known one.)
        for (const match of matches) {
          assert.ok(!knownRecords.has(JSON.stringify(match.record)), `hostile number ${JSON.stringify(hostile.slice(0, 40))} found the known customer`);
        }
      }
      const after = await fx().connector.lookup(query(fx().knownNumber), signal());
      assert.ok(after.length >= 1, 'the known customer is gone after the hostile lookups');
    });
  });
}

async function withinPrompt<T>(work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`did not settle within ${PROMPT_MS} ms`)), PROMPT_MS);
  });
  try {
    return await Promise.race([work, guard]);
  } finally {
    clearTimeout(timer);
  }
}
