import type { CallEvent } from '../model/call-event.js';
import type { LookupResult } from '../model/customer.js';
import type { CompiledMapping } from '../mapping/mapping-api.js';
import type { MatchSummary } from '../model/pop.js';
import type { CallStateMessage, PopMessage, Unstamped, UpdateMessage } from '../hub/protocol.js';

/**
 * Renders the `pop`/`update` message one agent role sees for a ringing/dialing leg: picks
 * the template (unless one is forced), maps the selected match, labels every match. The
 * daemon and `callpop lookup` both call this, so the CLI prints exactly what agents get.
 */
export async function renderPopMessage(
  mapping: CompiledMapping,
  type: 'pop' | 'update',
  call: CallEvent,
  lookup: LookupResult,
  options: { role: string; selected?: number; template?: string },
): Promise<Unstamped<PopMessage> | Unstamped<UpdateMessage>> {
  const selected = options.selected ?? 0;
  const ctx = { call, lookup, match: lookup.matches[selected] ?? null, role: options.role };
  const template = options.template ?? mapping.select(ctx);
  const payload = await mapping.render(ctx, template);
  const matches: MatchSummary[] = lookup.matches.map((m) => ({ source: m.source, ...(m.id !== undefined ? { id: m.id } : {}), label: mapping.label(m, template) }));
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
