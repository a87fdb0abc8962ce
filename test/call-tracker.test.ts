import assert from 'node:assert/strict';
import { CallTracker } from '../src/calls/call-tracker.js';
import type { CallEvent } from '../src/model/call-event.js';
import type { ActiveLeg, LegEvent } from '../src/model/leg-event.js';

const CALLER = { number: '+4930123456', name: 'Erika Mustermann' };

function tracker(): CallTracker {
  return new CallTracker({ agentForDevice: (_pbx, device) => /^PJSIP\/(\d+)$/.exec(device)?.[1] ?? /^Local\/(\d+)@/.exec(device)?.[1] ?? null, transferWindowMs: 1000 });
}

function leg(type: LegEvent['type'], legId: string, device: string, extra: Partial<LegEvent> = {}): LegEvent {
  return { type, pbxId: 'p', callId: 'c1', legId, device, direction: 'inbound', caller: CALLER, callee: { number: null, name: null }, at: 100, ...extra };
}

const kinds = (events: CallEvent[]): string[] => events.map((e) => `${e.kind} ${e.agent.extension}${e.transferredFrom ? ` from ${e.transferredFrom}` : ''}`);

describe('Call tracker', () => {
  it('pops an agent once when a Local half and the phone both ring', () => {
    const t = tracker();
    const out = [...t.handle(leg('leg-ringing', 'L1', 'Local/1001@from-queue')), ...t.handle(leg('leg-ringing', 'P1', 'PJSIP/1001'))];
    assert.deepEqual(kinds(out), ['ringing 1001']);
  });

  it('keeps the pop open when the Local half it started on hangs up before the phone', () => {
    const t = tracker();
    t.handle(leg('leg-ringing', 'L1', 'Local/1001@from-queue'));
    t.handle(leg('leg-ringing', 'P1', 'PJSIP/1001'));
    assert.deepEqual(kinds(t.handle(leg('leg-answered', 'P1', 'PJSIP/1001'))), ['answered 1001']);
    assert.deepEqual(t.handle(leg('leg-hangup', 'L1', 'Local/1001@from-queue', { cause: '16 Normal Clearing' })), []);
    const end = t.handle(leg('leg-hangup', 'P1', 'PJSIP/1001', { cause: '16 Normal Clearing' }));
    assert.deepEqual(kinds(end), ['ended 1001']);
    assert.equal(end[0]?.legId, 'L1', 'the leg id the pop started with');
    assert.equal(t.size, 0);
  });

  it('reports missed with the first cause when both halves of a ringing agent hang up', () => {
    const t = tracker();
    t.handle(leg('leg-ringing', 'L1', 'Local/1002@from-queue'));
    t.handle(leg('leg-ringing', 'P1', 'PJSIP/1002'));
    t.handle(leg('leg-hangup', 'L1', 'Local/1002@from-queue', { cause: '26 Answered elsewhere' }));
    const out = t.handle(leg('leg-hangup', 'P1', 'PJSIP/1002', { cause: '16 Normal Clearing' }));
    assert.deepEqual(kinds(out), ['missed 1002']);
    assert.equal(out[0]?.cause, '26 Answered elsewhere');
  });

  it('moves an up leg onto the transferred call only inside the transfer window', () => {
    const t = tracker();
    t.handle(leg('leg-ringing', 'A1', 'PJSIP/1001'));
    t.handle(leg('leg-answered', 'A1', 'PJSIP/1001'));
    t.handle(leg('leg-ringing', 'B1', 'PJSIP/1002', { callId: 'consult', caller: { number: '1001', name: null }, direction: 'internal' }));
    t.handle(leg('leg-answered', 'B1', 'PJSIP/1002', { callId: 'consult' }));
    // Outside a transfer, a start on another call for a known leg is ignored.
    assert.deepEqual(t.handle(leg('leg-ringing', 'B1', 'PJSIP/1002')), []);
    t.handle(leg('call-transfer', 'A1', 'PJSIP/1001', { at: 200 }));
    const moved = t.handle(leg('leg-ringing', 'B1', 'PJSIP/1002', { at: 201 }));
    assert.deepEqual(kinds(moved), ['ended 1002', 'ringing 1002 from 1001']);
    assert.equal(moved[0]?.callId, 'consult');
    assert.equal(moved[1]?.callId, 'c1');
    assert.deepEqual(moved[1]?.caller, CALLER);
  });

  it('does not move a leg when the transfer window has passed', () => {
    const t = tracker();
    t.handle(leg('leg-ringing', 'A1', 'PJSIP/1001'));
    t.handle(leg('leg-ringing', 'B1', 'PJSIP/1002', { callId: 'consult' }));
    t.handle(leg('call-transfer', 'A1', 'PJSIP/1001', { at: 200 }));
    assert.deepEqual(t.handle(leg('leg-ringing', 'B1', 'PJSIP/1002', { at: 5000 })), []);
  });

  it('neither re-pops nor loses the end of a call that was up across a resync', () => {
    const t = tracker();
    t.handle(leg('leg-ringing', 'A1', 'PJSIP/1001'));
    t.handle(leg('leg-answered', 'A1', 'PJSIP/1001'));
    const active: ActiveLeg[] = [{ pbxId: 'p', callId: 'c1', legId: 'A1', device: 'PJSIP/1001', state: 'up', caller: CALLER, callee: { number: '1001', name: null }, direction: 'inbound' }];
    assert.deepEqual(t.resync('p', active), []);
    assert.deepEqual(kinds(t.handle(leg('leg-hangup', 'A1', 'PJSIP/1001'))), ['ended 1001']);
  });

  it('ends a tracked leg that is gone from the PBX after a resync', () => {
    const t = tracker();
    t.handle(leg('leg-ringing', 'A1', 'PJSIP/1001'));
    assert.deepEqual(kinds(t.resync('p', [])), ['missed 1001']);
  });
});
