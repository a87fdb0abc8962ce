import assert from 'node:assert/strict';
import { numberCandidates } from '../src/lookup/number-candidates.js';

const DE = { defaultRegion: 'DE' };

describe('number candidates', () => {
  it('turns +49 (30) 123456 into E.164, national with and without trunk prefix, and digits', () => {
    assert.deepEqual(numberCandidates('+49 (30) 123456', DE).candidates, ['+4930123456', '030123456', '30123456', '4930123456']);
  });

  for (const spelling of ['0049 30 123456', '+49 (30) 123456', '030123456', '4930123456', '30123456', '+49-30-123456']) {
    it(`puts +4930123456 first for the spelling "${spelling}"`, () => {
      assert.equal(numberCandidates(spelling, DE).candidates[0], '+4930123456');
    });
  }

  it('reads a national number in the configured default region', () => {
    assert.equal(numberCandidates('(213) 373-4253', { defaultRegion: 'US' }).candidates[0], '+12133734253');
    assert.equal(numberCandidates('020 7946 0018', { defaultRegion: 'GB' }).candidates[0], '+442079460018');
  });

  it('gives the last N digits when suffix matching is configured', () => {
    assert.equal(numberCandidates('+49 30 123456', { defaultRegion: 'DE', lastDigits: 7 }).lastDigits, '0123456');
  });

  it('gives no last digits when suffix matching is off or the number is too short', () => {
    assert.equal(numberCandidates('+49 30 123456', DE).lastDigits, undefined);
    assert.equal(numberCandidates('12345', { defaultRegion: 'DE', lastDigits: 9 }).lastDigits, undefined);
  });

  for (const garbage of ['anonymous', 'Restricted', '', '   ', 'x'.repeat(500), '9'.repeat(500), "' OR 1=1 --", '12', '+49 30 12345<script>', 'sip:+4930123456@evil']) {
    it(`gives no candidates and does not throw for ${JSON.stringify(garbage.slice(0, 24))}`, () => {
      const result = numberCandidates(garbage, { defaultRegion: 'DE', lastDigits: 6 });
      assert.deepEqual(result.candidates, []);
      assert.equal(result.lastDigits, undefined);
    });
  }

  it('only ever returns digits with an optional leading plus', () => {
    const inputs = ['+1 (555) 010-9999', '0 30/12 34 56', '+44.20.7946.0018', '00 33 1 23 45 67 89', '(0)30 123456', '+', '++49', '0000000'];
    for (const input of inputs) {
      for (const candidate of numberCandidates(input, { defaultRegion: 'DE', lastDigits: 4 }).candidates) {
        assert.match(candidate, /^\+?\d+$/, `${input} -> ${candidate}`);
      }
    }
  });

  it('survives an unknown default region by falling back to digits only', () => {
    assert.deepEqual(numberCandidates('030 123456', { defaultRegion: 'ZZ' }).candidates, ['030123456']);
  });

  it('does not repeat a candidate', () => {
    const { candidates } = numberCandidates('+1 213 373 4253', { defaultRegion: 'US' });
    assert.equal(new Set(candidates).size, candidates.length);
  });
});
