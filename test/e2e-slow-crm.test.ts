import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { defineConnector, type Connector, type LookupQuery } from '../src/connectors/contract.js';
import { ConnectorRegistry } from '../src/connectors/registry.js';
import type { CustomerMatch } from '../src/model/customer.js';
import { AmiSimulator } from '../src/sim/ami-simulator.js';
import { DaemonHarness } from './helpers/daemon-harness.js';

/** A CRM that answers after `delay_ms`, through the public connector contract. */
function slowCrm(calls: LookupQuery[]) {
  return defineConnector<{ delay_ms: number }>({
    type: 'slow-crm',
    configSchema: { type: 'object', additionalProperties: false, properties: { delay_ms: { type: 'integer', default: 300 } } },
    create(config): Connector {
      return {
        async lookup(query, signal): Promise<CustomerMatch[]> {
          calls.push(query);
          await delay(config.delay_ms, undefined, { signal });
          return query.candidates.includes('+4989777888')
            ? [{ source: 'slow', id: 'C-1003', record: { id: 'C-1003', first_name: 'Petra', last_name: 'Schmidt', company: 'Schmidt & Söhne KG' } }]
            : [];
        },
        async health() {
          return { ok: true, detail: 'slow test CRM' };
        },
        async close() {},
      };
    },
  });
}

describe('end to end: a CRM slower than the pop deadline', () => {
  let sim: AmiSimulator;
  let harness: DaemonHarness;
  const calls: LookupQuery[] = [];

  beforeEach(async () => {
    calls.length = 0;
    const registry = new ConnectorRegistry();
    registry.register(slowCrm(calls));
    sim = new AmiSimulator({ username: 'callpop', secret: 'slow-secret' });
    const port = await sim.listen(0, '127.0.0.1');
    harness = await DaemonHarness.start({
      pbx: { id: 'pbx-a', type: 'asterisk', host: '127.0.0.1', port, username: 'callpop', secret: 'slow-secret' },
      registry,
      connectors: [{ name: 'slow', type: 'slow-crm', delay_ms: 300 }],
      lookup: { default_region: 'DE', pop_deadline_ms: 50, source_timeout_ms: 5000, sources: [{ connector: 'slow' }] },
    });
    await sim.waitForLogin(5000);
  });
  afterEach(async () => {
    await harness.stop();
    await sim.close();
  });

  it('pops every agent of a ring-all queue at the deadline, then sends each of them the update (real capture 03)', async () => {
    const agent = await harness.agent(['1001', '1002']);
    await sim.replayCapture(join(process.cwd(), 'test/fixtures/asterisk/03-queue-answered.ami'));
    for (const ext of ['1001', '1002']) {
      const update = await agent.next((m) => m.type === 'update' && m.agent === ext, 5000);
      assert.equal(update.pending, false);
      assert.equal((update.fields as { name: string }).name, 'Petra');
      const pop = agent.messages.find((m) => m.type === 'pop' && m.agent === ext);
      assert.ok(pop, `agent ${ext} got a pop`);
      assert.equal(pop.pending, true, 'the pop went out at the deadline, before the CRM answered');
      assert.equal(pop.queue, 'support');
      assert.ok(pop.seq < update.seq, 'the update follows its pop');
    }
    assert.equal(calls.length, 1, 'the ring group shares one CRM query');
  });
});
