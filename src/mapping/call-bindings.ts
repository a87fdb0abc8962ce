import type { CallEvent, Party } from '../model/call-event.js';
import type { CustomerRecord } from '../model/customer.js';
import type { ExpressionBindings } from './compile-expression.js';
import type { PopContext } from './mapping-api.js';

/**
 * The variables bound for every expression of one render. Caller number and name are
 * attacker-controlled text (SIP From header): they reach expressions only here, as data,
 * never inside expression source.
 */
export function popBindings(ctx: PopContext, record: CustomerRecord | undefined): ExpressionBindings {
  return {
    call: callVariable(ctx.call, ctx.lookup.number),
    matches: ctx.lookup.matches.length,
    record,
    source: ctx.match?.source,
    id: ctx.match?.id,
  };
}

/**
 * `$call`. Absent values are left out rather than null, so JSONata treats them as missing
 * (`$call.queue & ''` is `''`, not `'null'`), and a field's `default` applies.
 */
export function callVariable(call: CallEvent, lookedUp: string): Record<string, unknown> {
  const v: Record<string, unknown> = {
    id: call.callId,
    kind: call.kind,
    direction: call.direction,
    pbx: call.pbxId,
    agent: call.agent.extension,
    device: call.agent.device,
    anonymous: call.anonymous,
    at: call.at,
    caller: party(call.caller),
    callee: party(call.callee),
  };
  if (lookedUp !== '') v.number = lookedUp;
  if (call.queue !== undefined) v.queue = call.queue;
  if (call.did !== undefined) v.did = call.did;
  if (call.transferredFrom !== undefined) v.transferred_from = call.transferredFrom;
  return v;
}

function party(p: Party): Record<string, string> {
  const out: Record<string, string> = {};
  if (p.number !== null && p.number !== '') out.number = p.number;
  if (p.name !== null && p.name !== '') out.name = p.name;
  return out;
}
