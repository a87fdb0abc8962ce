import assert from 'node:assert/strict';
import type { Deliverable } from '../src/hub/deliverable.js';
import type { LookupOptions, LookupService } from '../src/lookup/lookup-api.js';
import { compileMapping } from '../src/mapping/compile-mapping.js';
import type { CallEvent, CallEventKind } from '../src/model/call-event.js';
import type { CustomerRef, LookupResult } from '../src/model/customer.js';
import { silentLogger } from '../src/model/logger.js';
import { Metrics } from '../src/observability/metrics.js';
import { PopStage, type StoredPop } from '../src/pops/pop-stage.js';
import type { LiveShelf } from '../src/store/live-state.js';

/** A lookup service whose answers the test releases by hand: first a pending result, then the late one. */
class ManualLookup implements LookupService {
  readonly late: ((result: LookupResult) => void)[] = [];
  constructor(private readonly matches: LookupResult['matches']) {}
  async lookup(number: string, options: LookupOptions = {}): Promise<LookupResult> {
    if (options.onUpdate) this.late.push(options.onUpdate);
    return { number, candidates: [number], matches: [], errors: [], pending: true };
  }
  complete(): void {
    for (const update of this.late.splice(0)) update({ number: '+4930123456', candidates: [], matches: this.matches, errors: [], pending: false });
  }
  prefetch(): void {}
  invalidate(): void {}
  async close(): Promise<void> {}
}

function event(kind: CallEventKind, callId: string, agent: string): CallEvent {
  return {
    kind,
    pbxId: 'pbx',
    callId,
    legId: `${callId}-${agent}`,
    agent: { extension: agent, device: `PJSIP/${agent}` },
    direction: 'inbound',
    caller: { number: '+4930123456', name: 'Caller' },
    callee: { number: agent, name: null },
    anonymous: false,
    at: 1,
  };
}

const twoCustomers = [
  { source: 'crm', id: 'C-1', record: { first_name: 'Erika' } },
  { source: 'crm', id: 'C-2', record: { first_name: 'Max' } },
];

/** A shelf in memory, as the call store's live state would be after a restart. */
function memoryShelf<T>(rows: { pbxId: string; id: string; value: T }[] = []): LiveShelf<T> {
  const data = new Map(rows.map((r) => [`${r.pbxId}|${r.id}`, r]));
  return {
    put: (pbxId, id, value) => void data.set(`${pbxId}|${id}`, { pbxId, id, value }),
    remove: (pbxId, id) => void data.delete(`${pbxId}|${id}`),
    all: () => [...data.values()].map((r) => ({ ...r, seenAt: 0 })),
  };
}

function stage(lookup: LookupService, shelf?: LiveShelf<StoredPop>) {
  const sent: Deliverable[] = [];
  const identified: (CustomerRef | null)[] = [];
  const mapping = compileMapping({ templates: [{ name: 'default', fields: { name: 'first_name' } }] }, { file: 'test.yaml' });
  const pops = new PopStage({
    lookup: () => lookup,
    mapping: () => mapping,
    roles: ['agent'],
    delivery: { deliver: (m) => (sent.push(m), 1) },
    identification: { lookupStarted: () => {}, identified: (_p, _c, customer) => identified.push(customer) },
    metrics: new Metrics(),
    logger: silentLogger,
    ...(shelf ? { shelf } : {}),
  });
  const settle = () => new Promise((r) => setTimeout(r, 20));
  const types = () => sent.map((m) => JSON.parse(m.body) as { type: string; state?: string; callId: string });
  return { pops, sent, identified, settle, types };
}

describe('pop stage', () => {
  it('sends pop, then call state, in the order of the call\'s events', async () => {
    const lookup = new ManualLookup([]);
    const s = stage(lookup);
    s.pops.handle(event('ringing', 'c1', '1001'));
    s.pops.handle(event('answered', 'c1', '1001'));
    s.pops.handle(event('ended', 'c1', '1001'));
    await s.settle();
    assert.deepEqual(s.types().map((m) => m.state ?? m.type), ['pop', 'answered', 'ended']);
  });

  it('shows a late subscriber every call in progress as a snapshot with its state, and no ended one', async () => {
    const s = stage(new ManualLookup([]));
    s.pops.handle(event('ringing', 'ringing-call', '1001'));
    s.pops.handle(event('ringing', 'answered-call', '1001'));
    s.pops.handle(event('answered', 'answered-call', '1001'));
    s.pops.handle(event('ringing', 'other-agent', '1002'));
    await s.settle();
    s.pops.handle(event('ringing', 'ended-call', '1001'));
    s.pops.handle(event('ended', 'ended-call', '1001'));
    await s.settle();
    const snapshot = s.pops.snapshot(['1001']).map((m) => JSON.parse(m.body) as { type: string; callId: string; snapshot: boolean; state: string });
    assert.deepEqual(
      snapshot.map((m) => [m.type, m.callId, m.snapshot, m.state]),
      [
        ['pop', 'ringing-call', true, 'ringing'],
        ['pop', 'answered-call', true, 'answered'],
      ],
    );
    const live = s.sent.map((m) => JSON.parse(m.body) as { snapshot?: boolean });
    assert.ok(live.every((m) => m.snapshot === undefined), 'live pops are never marked snapshot');
  });

  it('never brings an ended call back as ringing when a late lookup updates it', async () => {
    const lookup = new ManualLookup(twoCustomers);
    const s = stage(lookup);
    s.pops.handle(event('ringing', 'c1', '1001'));
    s.pops.handle(event('missed', 'c1', '1001'));
    await s.settle();
    lookup.complete();
    await s.settle();
    assert.deepEqual(s.types().map((m) => m.state ?? m.type), ['pop', 'missed', 'update'], 'the agent still gets the update for wrap-up');
    assert.deepEqual(s.pops.snapshot(['1001']), []);
    assert.deepEqual(s.pops.snapshot(['*']), []);
  });

  it('never brings an ended call back as ringing when the agent picks during wrap-up', async () => {
    const lookup = new ManualLookup(twoCustomers);
    const s = stage(lookup);
    s.pops.handle(event('ringing', 'c1', '1001'));
    await s.settle();
    lookup.complete();
    s.pops.handle(event('answered', 'c1', '1001'));
    s.pops.handle(event('ended', 'c1', '1001'));
    await s.settle();
    await s.pops.pick({ pbx: 'pbx', callId: 'c1', agent: '1001', index: 1 });
    assert.equal(s.types().at(-1)?.type, 'update');
    assert.deepEqual(s.identified.at(-1), { source: 'crm', id: 'C-2' }, 'the call is logged against the picked customer');
    assert.deepEqual(s.pops.snapshot(['1001']), []);
  });

  it('forgets a closed pop with one match or none once its lookup is complete', async () => {
    const lookup = new ManualLookup([twoCustomers[0]!]);
    const s = stage(lookup);
    s.pops.handle(event('ringing', 'c1', '1001'));
    await s.settle();
    lookup.complete();
    s.pops.handle(event('ended', 'c1', '1001'));
    await s.settle();
    assert.equal(s.pops.size, 0);
    await assert.rejects(s.pops.pick({ pbx: 'pbx', callId: 'c1', agent: '1001', index: 0 }), /no pop to pick from/);
  });

  it('looks a call up once for every agent its ring group rings', async () => {
    let lookups = 0;
    const counting: LookupService = {
      lookup: async (number) => (lookups++, { number, candidates: [], matches: [], errors: [], pending: false }),
      prefetch() {},
      invalidate() {},
      close: async () => {},
    };
    const s = stage(counting);
    for (const agent of ['1001', '1002', '1003']) s.pops.handle(event('ringing', 'c1', agent));
    await s.settle();
    assert.equal(lookups, 1);
    assert.equal(s.types().filter((m) => m.type === 'pop').length, 3);
  });

  it('takes over the live pops a killed process left, shows them as a snapshot, and closes those the PBX lost', async () => {
    const rendered = (callId: string) => ({ agent: { type: 'pop', callId, agent: '1001', fields: { name: 'Erika' } } });
    const shelf = memoryShelf<StoredPop>([
      { pbxId: 'pbx', id: 'kept\u00001001', value: { event: event('ringing', 'kept', '1001'), state: 'answered', rendered: rendered('kept') } },
      { pbxId: 'pbx', id: 'lost\u00001001', value: { event: event('ringing', 'lost', '1001'), state: 'ringing', rendered: rendered('lost') } },
    ]);
    const s = stage(new ManualLookup([]), shelf);
    await s.pops.start();
    const shown = () => s.pops.snapshot(['1001']).map((m) => JSON.parse(m.body) as { callId: string; state: string; snapshot: boolean });
    assert.deepEqual(shown().map((m) => [m.callId, m.state, m.snapshot]), [['kept', 'answered', true], ['lost', 'ringing', true]]);
    assert.equal(s.sent.length, 0, 'nothing is popped again');
    s.pops.reconcile('pbx', (legId) => legId === 'kept-1001');
    await s.settle();
    assert.deepEqual(s.types().map((m) => [m.callId, m.state]), [['lost', 'ended']]);
    assert.deepEqual(shown().map((m) => m.callId), ['kept']);
    assert.deepEqual(shelf.all().map((r) => r.id), ['kept\u00001001']);
    await s.pops.stop(Date.now() + 1000);
  });
});
