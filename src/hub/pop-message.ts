import type { CallEvent } from '../model/call-event.js';
import type { LookupResult } from '../model/customer.js';
import type { MatchSummary, PopPayload } from '../model/pop.js';
import type { CallStateMessage, PopMessage, Unstamped } from './protocol.js';

/** Builds the protocol's `pop`/`update` message from a ringing/dialing event and its mapped payload. */
export function popMessage(
  type: 'pop' | 'update',
  call: CallEvent,
  lookup: LookupResult,
  payload: PopPayload,
  matches: MatchSummary[],
  selected = 0,
): Unstamped<PopMessage> | Unstamped<Omit<PopMessage, 'type'> & { type: 'update' }> {
  return {
    type,
    callId: call.callId,
    pbx: call.pbxId,
    agent: call.agent.extension,
    direction: call.direction,
    caller: call.caller,
    callee: call.callee,
    anonymous: call.anonymous,
    queue: call.queue ?? null,
    did: call.did ?? null,
    transferredFrom: call.transferredFrom ?? null,
    pending: lookup.pending,
    template: payload.template,
    fields: payload.fields,
    links: payload.links,
    matches,
    selected,
    at: call.at,
  };
}

/** Builds the protocol's `call` message for answered/ended/missed/transferred. */
export function callStateMessage(call: CallEvent): Unstamped<CallStateMessage> {
  const state = call.kind === 'answered' || call.kind === 'missed' || call.kind === 'transferred' ? call.kind : 'ended';
  return {
    type: 'call',
    callId: call.callId,
    agent: call.agent.extension,
    state,
    cause: call.cause ?? null,
    at: call.at,
  };
}
