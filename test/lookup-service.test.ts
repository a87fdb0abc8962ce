import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import sinon from 'sinon';
import type { Connector, LookupQuery } from '../src/connectors/contract.js';
import { ConnectorRegistry } from '../src/connectors/registry.js';
import type { LookupService } from '../src/lookup/lookup-api.js';
import { parseLookupConfig } from '../src/lookup/lookup-config.js';
import { createLookupService } from '../src/lookup/lookup-service.js';
import type { CustomerMatch, LookupResult } from '../src/model/customer.js';
import { CallpopError, isCallpopError } from '../src/model/errors.js';
import { silentLogger } from '../src/model/logger.js';

/**
 * The lookup stage against real SQLite CRMs, plus small hand-written connectors (one that
 * hangs, one that fails) that implement the public contract like any integrator's would.
 */

const CRM_SQL = `
  CREATE TABLE customers (id INTEGER PRIMARY KEY, first_name TEXT, last_name TEXT, phone TEXT, email TEXT, tier TEXT, city TEXT);
  CREATE INDEX customers_phone ON customers (phone);
  INSERT INTO customers VALUES (1, 'Ada', 'Lovelace', '+4930123456', 'ada@example.com', 'gold', 'Berlin');
  INSERT INTO customers VALUES (2, 'Alice', 'Home', '+4989111222', 'alice@example.com', NULL, 'Munich');
  INSERT INTO customers VALUES (3, 'Bob', 'Home', '+4989111222', 'bob@example.com', NULL, 'Munich');
`;
/** A second CRM (billing) that knows customers by e-mail and has other fields. */
const BILLING_SQL = `
  CREATE TABLE accounts (account_no TEXT PRIMARY KEY, email TEXT, phone TEXT, balance REAL, tier TEXT, city TEXT);
  INSERT INTO accounts VALUES ('B-100', 'ada@example.com', NULL, 12.5, 'platinum', 'London');
  INSERT INTO accounts VALUES ('B-200', 'carol@example.com', '+4940777888', 0, NULL, 'Hamburg');
`;

describe('lookup service', function () {
  let dir: string;
  let crmFile: string;
  let billingFile: string;
  const registry = new ConnectorRegistry();
  const toClose: { close(): Promise<void> }[] = [];
  let clock: sinon.SinonFakeTimers | undefined;

  before(function () {
    dir = mkdtempSync(join(tmpdir(), 'callpop-lookup-'));
    crmFile = join(dir, 'crm.sqlite');
    billingFile = join(dir, 'billing.sqlite');
    for (const [file, sql] of [
      [crmFile, CRM_SQL],
      [billingFile, BILLING_SQL],
    ] as const) {
      const db = new Database(file);
      db.exec(sql);
      db.close();
    }
  });

  afterEach(async function () {
    clock?.restore();
    clock = undefined;
    sinon.restore();
    await Promise.all(toClose.splice(0).map((c) => c.close()));
  });

  after(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  const crm = async (lookup_query = 'SELECT id, first_name, last_name, phone, email, tier, city FROM customers WHERE phone = :number ORDER BY id'): Promise<Connector> => {
    const c = await registry.create({ name: 'crm', type: 'sql', file: 'crm.sqlite', lookup_query }, { name: 'crm', logger: silentLogger, baseDir: dir });
    toClose.push(c);
    return c;
  };
  const billing = async (lookup_query: string): Promise<Connector> => {
    const c = await registry.create(
      { name: 'billing', type: 'sql', file: 'billing.sqlite', id_field: 'account_no', lookup_query },
      { name: 'billing', logger: silentLogger, baseDir: dir },
    );
    toClose.push(c);
    return c;
  };
  const service = (raw: Record<string, unknown>, connectors: [string, Connector][]): LookupService => {
    const s = createLookupService(parseLookupConfig({ default_region: 'DE', ...raw }), new Map(connectors), { logger: silentLogger });
    toClose.push(s);
    return s;
  };

  /** A connector that never answers (and ignores its signal, the worst case). */
  const hanging = (): Connector & { calls: number } => {
    const c = {
      calls: 0,
      lookup(): Promise<CustomerMatch[]> {
        c.calls++;
        return new Promise(() => {});
      },
      async health() {
        return { ok: true, detail: 'hangs' };
      },
      async close() {},
    };
    return c;
  };
  /** A connector that fails `failures` times, then answers with `matches`. */
  const flaky = (failures: number, matches: CustomerMatch[] = []): Connector & { calls: number } => {
    const c = {
      calls: 0,
      async lookup(): Promise<CustomerMatch[]> {
        c.calls++;
        if (c.calls <= failures) throw new CallpopError('CALLPOP_CONNECTOR_FAILED', 'crm unreachable');
        return matches;
      },
      async health() {
        return { ok: true, detail: 'flaky' };
      },
      async close() {},
    };
    return c;
  };
  const names = (r: LookupResult): unknown[] => r.matches.map((m) => m.record.first_name ?? m.record.account_no);

  describe('numbers', function () {
    for (const spelling of ['0049 30 123456', '+49 (30) 123456', '030123456', '4930123456']) {
      it(`finds Ada when she calls as ${spelling}`, async function () {
        const s = service({}, [['crm', await crm()]]);
        const result = await s.lookup(spelling);
        assert.deepEqual(names(result), ['Ada']);
        assert.equal(result.number, spelling);
        assert.equal(result.candidates[0], '+4930123456');
        assert.equal(result.pending, false);
      });
    }

    it('finds a customer by the last digits when configured', async function () {
      const c = await crm("SELECT id, first_name FROM customers WHERE substr(phone, -6) = :last_digits");
      const s = service({ match_last_digits: 6 }, [['crm', c]]);
      assert.deepEqual(names(await s.lookup('0172 555999')), []);
      assert.deepEqual(names(await s.lookup('(030) 12-34-56')), ['Ada']);
    });

    it('returns an empty list for a number nobody knows', async function () {
      const s = service({}, [['crm', await crm()]]);
      const result = await s.lookup('+49 30 999999');
      assert.deepEqual(result.matches, []);
      assert.deepEqual(result.errors, []);
    });

    for (const garbage of ['anonymous', '', 'x'.repeat(500), "' OR 1=1 --"]) {
      it(`answers ${JSON.stringify(garbage.slice(0, 12))} with no match and no error`, async function () {
        const s = service({}, [['crm', await crm()]]);
        const result = await s.lookup(garbage);
        assert.deepEqual(result.matches, []);
        assert.deepEqual(result.errors, []);
      });
    }

    it('returns several records for one number as a list', async function () {
      const s = service({}, [['crm', await crm()]]);
      assert.deepEqual(names(await s.lookup('089 111222')), ['Alice', 'Bob']);
    });
  });

  describe('sources', function () {
    it('asks the next source only when the first one misses', async function () {
      const second = flaky(0, [{ source: 'second', record: { first_name: 'Other' } }]);
      const s = service({ strategy: 'first' }, [
        ['crm', await crm()],
        ['second', second],
      ]);
      assert.deepEqual(names(await s.lookup('+4930123456')), ['Ada']);
      assert.equal(second.calls, 0);
      assert.deepEqual(names(await s.lookup('+4940777888')), ['Other']);
      assert.equal(second.calls, 1);
    });

    it('falls through to the next source when one fails, and says which one failed', async function () {
      const broken = flaky(100);
      const s = service({ strategy: 'first', sources: [{ connector: 'broken' }, { connector: 'crm' }] }, [
        ['crm', await crm()],
        ['broken', broken],
      ]);
      const result = await s.lookup('+4930123456');
      assert.deepEqual(names(result), ['Ada']);
      assert.deepEqual(result.errors, [{ source: 'broken', code: 'CALLPOP_CONNECTOR_FAILED', message: 'crm unreachable' }]);
    });

    it('merges fields from parallel sources, the higher-priority source winning', async function () {
      const b = await billing('SELECT account_no, tier, city, balance FROM accounts WHERE account_no = :account_no');
      const phoneBilling = await registry.create(
        { name: 'billing2', type: 'sql', file: 'billing.sqlite', id_field: 'account_no', lookup_query: "SELECT account_no, tier, city, balance FROM accounts WHERE email = 'ada@example.com' AND :number IS NOT NULL" },
        { name: 'billing2', logger: silentLogger, baseDir: dir },
      );
      toClose.push(phoneBilling, b);
      const s = service({ strategy: 'merge' }, [
        ['crm', await crm()],
        ['billing2', phoneBilling],
      ]);
      const result = await s.lookup('+4930123456');
      const top = result.matches[0];
      assert.equal(top?.source, 'crm');
      assert.equal(top?.record.tier, 'gold', 'crm has priority for tier');
      assert.equal(top?.record.city, 'Berlin', 'crm has priority for city');
      assert.equal(top?.record.balance, 12.5, 'billing fills what crm lacks');
      assert.deepEqual(
        result.matches.map((m) => m.source),
        ['crm', 'billing2'],
      );
    });

    it('enriches a customer found by phone with a source that looks up by e-mail', async function () {
      const b = await billing('SELECT account_no, balance, tier FROM accounts WHERE email = :email');
      const s = service({ sources: [{ connector: 'crm' }, { connector: 'billing', enrich_by: 'email' }] }, [
        ['crm', await crm()],
        ['billing', b],
      ]);
      const result = await s.lookup('+4930123456');
      assert.equal(result.matches[0]?.record.first_name, 'Ada');
      assert.equal(result.matches[0]?.record.balance, 12.5);
      assert.equal(result.matches[0]?.record.tier, 'gold');
      assert.deepEqual(
        result.matches.map((m) => m.id),
        ['1', 'B-100'],
      );
    });

    it('does not ask an enrichment source when nobody was found by phone', async function () {
      const enricher = flaky(0);
      const s = service({ sources: [{ connector: 'crm' }, { connector: 'enricher', enrich_by: 'email' }] }, [
        ['crm', await crm()],
        ['enricher', enricher],
      ]);
      await s.lookup('+4930999999');
      assert.equal(enricher.calls, 0);
    });

    it('hands the enrichment source what is already known', async function () {
      let seen: LookupQuery | undefined;
      const enricher: Connector = {
        async lookup(query) {
          seen = query;
          return [];
        },
        async health() {
          return { ok: true, detail: '' };
        },
        async close() {},
      };
      const s = service({ sources: [{ connector: 'crm' }, { connector: 'enricher', enrich_by: 'email' }] }, [
        ['crm', await crm()],
        ['enricher', enricher],
      ]);
      await s.lookup('+4930123456');
      assert.equal(seen?.known?.email, 'ada@example.com');
    });

    it('survives a connector that answers with something other than a list', async function () {
      const odd: Connector = {
        lookup: async () => ({ rows: 1 }) as unknown as CustomerMatch[],
        health: async () => ({ ok: true, detail: '' }),
        close: async () => {},
      };
      const s = service({ strategy: 'merge' }, [
        ['odd', odd],
        ['crm', await crm()],
      ]);
      const result = await s.lookup('+4930123456');
      assert.deepEqual(names(result), ['Ada']);
      assert.equal(result.errors[0]?.source, 'odd');
    });

    it('refuses a source that names no configured connector', async function () {
      assert.throws(
        () => service({ sources: [{ connector: 'nope' }] }, []),
        (err: unknown) => isCallpopError(err, 'CALLPOP_CONFIG_INVALID') && /lookup\.sources\[0\]\.connector/.test(err.message),
      );
    });
  });

  describe('deadline and breaker', function () {
    it('sends the pop at the deadline with what is known, then the full result once', async function () {
      const hang = hanging();
      const s = service(
        { strategy: 'first', pop_deadline_ms: 50, sources: [{ connector: 'hang', timeout_ms: 300 }, { connector: 'crm' }] },
        [
          ['hang', hang],
          ['crm', await crm()],
        ],
      );
      const updates: LookupResult[] = [];
      let resolveUpdate: () => void = () => {};
      const updated = new Promise<void>((r) => (resolveUpdate = r));
      const pop = await s.lookup('+4930123456', {
        onUpdate: (r) => {
          updates.push(r);
          resolveUpdate();
        },
      });
      assert.equal(pop.pending, true);
      assert.deepEqual(pop.matches, []);
      await updated;
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(updates.length, 1);
      assert.equal(updates[0]?.pending, false);
      assert.deepEqual(names(updates[0]!), ['Ada']);
      assert.equal(updates[0]?.errors[0]?.code, 'CALLPOP_LOOKUP_TIMEOUT');
    });

    it('puts what the fast sources found into the early pop in merge mode', async function () {
      const s = service({ strategy: 'merge', pop_deadline_ms: 50, source_timeout_ms: 200 }, [
        ['hang', hanging()],
        ['crm', await crm()],
      ]);
      const pop = await s.lookup('+4930123456');
      assert.equal(pop.pending, true);
      assert.deepEqual(names(pop), ['Ada']);
    });

    it('does not call onUpdate when every source answered before the deadline', async function () {
      const onUpdate = sinon.spy();
      const s = service({ pop_deadline_ms: 5000 }, [['crm', await crm()]]);
      const result = await s.lookup('+4930123456', { onUpdate });
      assert.equal(result.pending, false);
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(onUpdate.callCount, 0);
    });

    it('opens the breaker of a hanging source and still pops', async function () {
      const hang = hanging();
      const s = service(
        {
          strategy: 'first',
          pop_deadline_ms: 5000,
          breaker: { failure_threshold: 2, cooldown_ms: 60_000 },
          sources: [{ connector: 'hang', timeout_ms: 30 }, { connector: 'crm' }],
        },
        [
          ['hang', hang],
          ['crm', await crm()],
        ],
      );
      // Errors are not cached, so each lookup reaches the sources again.
      await s.lookup('+4930123456');
      await s.lookup('+4930123456');
      const third = await s.lookup('+4930123456');
      assert.equal(hang.calls, 2, 'the open breaker keeps the third lookup away from the hanging source');
      assert.equal(third.errors[0]?.code, 'CALLPOP_BREAKER_OPEN');
      assert.deepEqual(names(third), ['Ada']);
    });

    it('probes a failed source again after the cool-down and closes the breaker on success', async function () {
      const src = flaky(2, [{ source: 'flaky', record: { first_name: 'Back' } }]);
      const s = service({ cache: { enabled: false }, breaker: { failure_threshold: 2, cooldown_ms: 40 } }, [['flaky', src]]);
      await s.lookup('+4930123456');
      await s.lookup('+4930123456');
      assert.equal((await s.lookup('+4930123456')).errors[0]?.code, 'CALLPOP_BREAKER_OPEN');
      await new Promise((r) => setTimeout(r, 60));
      assert.deepEqual(names(await s.lookup('+4930123456')), ['Back']);
      assert.equal(src.calls, 3);
    });

    it("rejects only the caller whose signal aborted; others get the answer", async function () {
      const s = service({ strategy: 'first', pop_deadline_ms: 5000, sources: [{ connector: 'slow' }] }, [
        ['slow', flakyAfter(30, [{ source: 'slow', record: { first_name: 'Late' } }])],
      ]);
      const controller = new AbortController();
      const aborted = s.lookup('+4930123456', { signal: controller.signal });
      const other = s.lookup('+4930123456');
      controller.abort(new Error('agent hung up'));
      await assert.rejects(aborted, /agent hung up/);
      assert.deepEqual(names(await other), ['Late']);
    });

    it('aborts running lookups on close', async function () {
      const s = service({ pop_deadline_ms: 5000, source_timeout_ms: 60_000 }, [['hang', hanging()]]);
      const running = s.lookup('+4930123456');
      await s.close();
      const result = await running;
      assert.equal(result.errors[0]?.source, 'hang');
      await assert.rejects(s.lookup('+4930123456'), (err: unknown) => isCallpopError(err, 'CALLPOP_LOOKUP_FAILED'));
    });
  });

  describe('cache', function () {
    it('answers a repeated lookup from the cache', async function () {
      const c = await crm();
      const spy = sinon.spy(c, 'lookup');
      const s = service({}, [['crm', c]]);
      await s.lookup('+4930123456');
      const second = await s.lookup('030 123456');
      assert.equal(spy.callCount, 1);
      assert.deepEqual(names(second), ['Ada']);
      assert.equal(second.number, '030 123456', 'the result carries the number as this caller gave it');
    });

    it('runs exactly one CRM query for 100 simultaneous lookups of one number', async function () {
      const c = await crm();
      const spy = sinon.spy(c, 'lookup');
      const s = service({}, [['crm', c]]);
      const spellings = ['+4930123456', '030123456', '0049 30 123456', '4930123456'];
      const results = await Promise.all(Array.from({ length: 100 }, (_, i) => s.lookup(spellings[i % spellings.length]!)));
      assert.equal(spy.callCount, 1);
      assert.ok(results.every((r) => r.matches[0]?.record.first_name === 'Ada'));
    });

    it('forgets a miss after the shorter negative TTL but keeps a hit', async function () {
      clock = sinon.useFakeTimers({ toFake: ['Date'], now: Date.now() });
      const c = await crm();
      const spy = sinon.spy(c, 'lookup');
      const s = service({ cache: { ttl_s: 300, negative_ttl_s: 10 } }, [['crm', c]]);
      await s.lookup('+4930123456');
      await s.lookup('+4930999999');
      clock.tick(11_000);
      await s.lookup('+4930123456');
      await s.lookup('+4930999999');
      assert.deepEqual(
        spy.getCalls().map((call) => call.args[0].candidates[0]),
        ['+4930123456', '+4930999999', '+4930999999'],
      );
    });

    it('does not cache an error as not-found', async function () {
      const src = flaky(1, [{ source: 'flaky', record: { first_name: 'Ada' } }]);
      const s = service({}, [['flaky', src]]);
      assert.equal((await s.lookup('+4930123456')).errors.length, 1);
      assert.deepEqual(names(await s.lookup('+4930123456')), ['Ada']);
    });

    it('serves an expired entry at once and refreshes it in the background', async function () {
      clock = sinon.useFakeTimers({ toFake: ['Date'], now: Date.now() });
      let tier = 'gold';
      const src: Connector & { calls: number } = {
        calls: 0,
        async lookup() {
          src.calls++;
          return [{ source: 'crm', record: { first_name: 'Ada', tier } }];
        },
        health: async () => ({ ok: true, detail: '' }),
        close: async () => {},
      };
      const s = service({ cache: { ttl_s: 60, max_stale_s: 600 } }, [['crm', src]]);
      await s.lookup('+4930123456');
      tier = 'platinum';
      clock.tick(61_000);
      const stale = await s.lookup('+4930123456');
      assert.equal(stale.matches[0]?.record.tier, 'gold', 'the stale entry is served at once');
      await new Promise((r) => setTimeout(r, 10));
      assert.equal(src.calls, 2, 'a background refresh ran');
      assert.equal((await s.lookup('+4930123456')).matches[0]?.record.tier, 'platinum');
    });

    it('does not serve an entry past the maximum staleness', async function () {
      clock = sinon.useFakeTimers({ toFake: ['Date'], now: Date.now() });
      let tier = 'gold';
      const src: Connector = {
        lookup: async () => [{ source: 'crm', record: { first_name: 'Ada', tier } }],
        health: async () => ({ ok: true, detail: '' }),
        close: async () => {},
      };
      const s = service({ cache: { ttl_s: 60, max_stale_s: 60 } }, [['crm', src]]);
      await s.lookup('+4930123456');
      tier = 'platinum';
      clock.tick(121_000);
      assert.equal((await s.lookup('+4930123456')).matches[0]?.record.tier, 'platinum');
    });

    it('keeps at most max_entries numbers, dropping the oldest', async function () {
      const c = await crm();
      const spy = sinon.spy(c, 'lookup');
      const s = service({ cache: { max_entries: 2 } }, [['crm', c]]);
      for (const n of ['+4930000001', '+4930000002', '+4930000003', '+4930000003', '+4930000002', '+4930000001']) await s.lookup(n);
      assert.deepEqual(
        spy.getCalls().map((call) => call.args[0].candidates[0]),
        ['+4930000001', '+4930000002', '+4930000003', '+4930000001'],
      );
    });

    it('forgets one number in all its spellings on invalidate(number)', async function () {
      const c = await crm();
      const spy = sinon.spy(c, 'lookup');
      const s = service({}, [['crm', c]]);
      await s.lookup('+4930123456');
      await s.lookup('+4989111222');
      s.invalidate('030 123456');
      await s.lookup('+4930123456');
      await s.lookup('+4989111222');
      assert.equal(spy.callCount, 3);
    });

    it('forgets everything on invalidate()', async function () {
      const c = await crm();
      const spy = sinon.spy(c, 'lookup');
      const s = service({}, [['crm', c]]);
      await s.lookup('+4930123456');
      await s.lookup('+4989111222');
      s.invalidate();
      await s.lookup('+4930123456');
      await s.lookup('+4989111222');
      assert.equal(spy.callCount, 4);
    });

    it('has the customer in cache when the phone rings after a prefetch', async function () {
      const c = await crm();
      const spy = sinon.spy(c, 'lookup');
      const s = service({}, [['crm', c]]);
      s.prefetch('+49 30 123456');
      await new Promise((r) => setTimeout(r, 20));
      const result = await s.lookup('030123456');
      assert.deepEqual(names(result), ['Ada']);
      assert.equal(spy.callCount, 1);
    });

    it('asks the CRM every time when the cache is disabled', async function () {
      const c = await crm();
      const spy = sinon.spy(c, 'lookup');
      const s = service({ cache: { enabled: false } }, [['crm', c]]);
      await s.lookup('+4930123456');
      await s.lookup('+4930123456');
      assert.equal(spy.callCount, 2);
    });
  });
});

/** A connector that answers after `ms`, honouring its signal. */
function flakyAfter(ms: number, matches: CustomerMatch[]): Connector {
  return {
    lookup: (_q, signal) =>
      new Promise((resolve, reject) => {
        const t = setTimeout(() => resolve(matches), ms);
        signal.addEventListener('abort', () => {
          clearTimeout(t);
          reject(signal.reason);
        });
      }),
    health: async () => ({ ok: true, detail: '' }),
    close: async () => {},
  };
}
