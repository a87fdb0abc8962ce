import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { runFuzz } from '../bench/fuzz/run-fuzz.js';
import { prng } from './helpers/prng.js';

const fixturesDir = fileURLToPath(new URL('../../test/fixtures', import.meta.url));

describe('fuzz (short, seeded run of npm run fuzz)', function () {
  this.timeout(120_000);

  it('lets no exception escape from 20,000 mutated inputs to the codecs, normalisers, tracker and hub parsing', () => {
    // The time bound only guards a very slow machine; the count ends the run.
    const report = runFuzz({ seed: 13, count: 20_000, timeMs: 100_000, fixturesDir }, prng(13));
    assert.deepEqual(report.escapes, []);
    assert.equal(report.escaped, 0);
    assert.equal(report.inputs, 20_000);
    assert.ok(report.eslProtocolErrors > 0, 'mutated Content-Length values must reach the protocol-error path');
    assert.equal(report.hubAcceptedUnknownTypes, 0, `the hub accepted ${report.hubUnknownTypeExamples.join(' ')}`);
  });
});
