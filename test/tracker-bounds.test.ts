import assert from 'node:assert/strict';
import { CallJournal } from '../src/calls/call-journal.js';
import { CallTracker } from '../src/calls/call-tracker.js';
import type { CallRecord } from '../src/model/call-record.js';
import type { LegEvent } from '../src/model/leg-event.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CallStore } from '../src/store/call-store.js';

function ringing(callId: string, agent: string): LegEvent {
  return {
    type: 'leg-ringing',
    pbxId: 'p',
    callId,
    legId: `${callId}-leg`,
    device: `PJSIP/${agent}`,
    direction: 'inbound',
    caller: { number: '+4930123456', name: null },
    callee: { number: null, name: null },
    at: 100,
  };
}

describe('Tracker bound', () => {
  it('closes the legs it evicts, so their pops close, and says the end is not known', () => {
    const t = new CallTracker({ agentForDevice: (_p, device) => device.split('/')[1] ?? null, maxLegs: 3 });
    for (const id of ['c1', 'c2', 'c3']) t.handle(ringing(id, '1001'));
    const out = t.handle(ringing('c4', '1002'));
    assert.deepEqual(
      out.map((e) => [e.kind, e.callId, e.estimatedEnd ?? false]),
      [
        ['ended', 'c1', true],
        ['ringing', 'c4', false],
      ],
    );
    assert.equal(t.size, 3);
    assert.equal(t.evictedLegs, 1);
  });

  it('records an evicted unanswered call as unknown, and does not queue it for CRM write-back', async () => {
    const store = new CallStore(':memory:');
    const records: CallRecord[] = [];
    const journal = new CallJournal({
      graceMs: 0,
      onRecord: (r, delivery) => {
        store.save(r, ['crm'], Date.now(), delivery);
        if (delivery.final) records.push(r);
      },
    });
    const t = new CallTracker({ agentForDevice: (_p, device) => device.split('/')[1] ?? null, maxLegs: 1 });
    for (const event of [...t.handle(ringing('c1', '1001')), ...t.handle(ringing('c2', '1002'))]) journal.record(event);
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(
      records.map((r) => [r.callId, r.outcome, r.endEstimated]),
      [['c1', 'unknown', true]],
    );
    assert.equal(store.recentCalls(5)[0]?.end_estimated, 1);
    assert.equal(store.pendingCount(), 0, 'nothing queued for the CRM');
    store.close();
  });
});

describe('Call journal records', () => {
  const ring = (legId: string, agent: string, at: number) => ({
    kind: 'ringing' as const, pbxId: 'p', callId: 'c1', legId, direction: 'inbound' as const,
    caller: { number: '+4930123456', name: null }, callee: { number: agent, name: null },
    agent: { extension: agent, device: `PJSIP/${agent}` }, anonymous: false, at,
  });

  it('stores a call the moment its last leg ends, held from write-back until the grace is over', () => {
    const store = new CallStore(':memory:');
    const journal = new CallJournal({ graceMs: 60_000, onRecord: (r, d) => store.save(r, ['crm'], Date.now(), d) });
    journal.record(ring('l1', '1001', 1000));
    journal.record({ ...ring('l1', '1001', 2000), kind: 'missed' });
    assert.deepEqual(store.recentCalls(5).map((c) => [c.call_id, c.outcome, c.ended_at]), [['c1', 'missed', 2000]]);
    assert.equal(store.pendingCount(), 1);
    assert.deepEqual(store.due(Date.now()), [], 'not handed to the CRM while the call may still resume');
    store.close();
  });

  it('withdraws the stored record when the call resumes within the grace (the next queue member rings)', () => {
    const store = new CallStore(':memory:');
    const journal = new CallJournal({ graceMs: 60_000, onRecord: (r, d) => store.save(r, ['crm'], Date.now(), d), onResumed: (p, c) => store.withdraw(p, c) });
    journal.record(ring('l1', '1001', 1000));
    journal.record({ ...ring('l1', '1001', 2000), kind: 'missed' });
    journal.record(ring('l2', '1002', 3000));
    assert.deepEqual(store.recentCalls(5), []);
    assert.equal(store.pendingCount(), 0);
    journal.record({ ...ring('l2', '1002', 4000), kind: 'answered' });
    journal.record({ ...ring('l2', '1002', 9000), kind: 'ended' });
    assert.deepEqual(store.recentCalls(5).map((c) => [c.outcome, c.agent, c.started_at, c.ended_at]), [['answered', '1002', 1000, 9000]]);
    store.close();
  });

  it('keeps a recorded end when the same leg is reported ended again (a stale leg after a restart)', () => {
    const store = new CallStore(':memory:');
    const journal = new CallJournal({ graceMs: 60_000, onRecord: (r, d) => store.save(r, ['crm'], Date.now(), d) });
    journal.record(ring('l1', '1001', 1000));
    journal.record({ ...ring('l1', '1001', 2000), kind: 'answered' });
    journal.record({ ...ring('l1', '1001', 5000), kind: 'ended' });
    journal.record({ ...ring('l1', '1001', 9000), kind: 'ended', estimatedEnd: true });
    assert.deepEqual(store.recentCalls(5).map((c) => [c.ended_at, c.end_estimated]), [[5000, 0]]);
    store.close();
  });

  it('leaves the next process a recorded call, not a call to end again, when killed right after the end', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'callpop-journal-'));
    try {
      const file = join(dir, 'callpop.sqlite');
      const first = new CallStore(file);
      const journal = new CallJournal({ graceMs: 60_000, shelf: first.live.shelf('call'), onRecord: (r, d) => first.save(r, ['crm'], Date.now(), d) });
      journal.record(ring('l1', '1001', 1000));
      journal.record({ ...ring('l1', '1001', 2000), kind: 'answered' });
      journal.record({ ...ring('l1', '1001', 5000), kind: 'ended' });
      // A kill now: the first process never gets another turn of its event loop.
      const second = new CallStore(file);
      const next = new CallJournal({ graceMs: 0, shelf: second.live.shelf('call'), onRecord: (r, d) => second.save(r, ['crm'], Date.now(), d) });
      await next.start();
      next.reconcile('p', () => false);
      assert.deepEqual(second.recentCalls(5).map((c) => [c.ended_at, c.end_estimated, c.outcome]), [[5000, 0, 'answered']]);
      assert.equal(next.size, 1, 'the next process waits out the grace of the recorded call');
      await next.stop();
      second.close();
      first.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
