import assert from 'node:assert/strict';
import { parseLookupConfig } from '../src/lookup/lookup-config.js';
import { isCallpopError } from '../src/model/errors.js';

describe('lookup config', function () {
  it('fills every default when the block is absent', function () {
    const config = parseLookupConfig(undefined);
    assert.equal(config.strategy, 'first');
    assert.equal(config.pop_deadline_ms, 800);
    assert.equal(config.cache.ttl_s, 300);
    assert.ok(config.cache.negative_ttl_s < config.cache.ttl_s);
    assert.equal(config.breaker.failure_threshold, 5);
    assert.deepEqual(config.sources, []);
  });

  it('keeps what the user set and fills the rest', function () {
    const config = parseLookupConfig({ default_region: 'AT', cache: { ttl_s: 60 }, sources: [{ connector: 'crm', timeout_ms: 300 }] });
    assert.equal(config.default_region, 'AT');
    assert.equal(config.cache.ttl_s, 60);
    assert.equal(config.cache.max_entries, 10000);
    assert.deepEqual(config.sources, [{ connector: 'crm', timeout_ms: 300 }]);
  });

  it('returns a frozen config', function () {
    assert.ok(Object.isFrozen(parseLookupConfig({}).cache));
  });

  it('names the key path of each mistake', function () {
    assert.throws(
      () => parseLookupConfig({ strategy: 'fastest', cache: { ttl_s: -1 }, sources: [{ timeout_ms: 5 }] }),
      (err: unknown) =>
        isCallpopError(err, 'CALLPOP_CONFIG_INVALID') &&
        err.message.includes('lookup.strategy: must be one of first, merge') &&
        err.message.includes('lookup.cache.ttl_s: must be > 0') &&
        err.message.includes('lookup.sources[0].connector: is required'),
    );
  });
});
