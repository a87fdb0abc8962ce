import type { SampleCustomer } from './sample-crm.js';

/** One call the demo's simulated PBX places (played as AMI or ESL by demo-pbx.ts). */
export interface DemoCall {
  /** null: a withheld number. */
  callerNumber: string | null;
  callerName: string | null;
  agent: string;
  answered: boolean;
}

/**
 * The demo's rotation: known customers (numbers in the forms a PBX really presents them),
 * an unknown caller, a withheld number, and a caller who gives up before the agent answers.
 */
export function demoCallScript(customers: readonly SampleCustomer[]): DemoCall[] {
  const national = (e164: string) => `0${e164.slice(3)}`; // +4930... -> 030..., as a German trunk may present it
  const call = (callerNumber: string | null, callerName: string | null, agent: string, answered = true): DemoCall => ({ callerNumber, callerName, agent, answered });
  const [erika, max, petra, hans, juergen, aylin] = customers;
  const script: DemoCall[] = [];
  if (erika) script.push(call(erika.phone, `${erika.first_name} ${erika.last_name}`, '1001'));
  if (max) script.push(call(national(max.phone), null, '1002'));
  script.push(call('+4917612345678', 'Unbekannt', '1001'));
  if (petra) script.push(call(petra.phone, `${petra.first_name} ${petra.last_name}`, '1002', false));
  script.push(call(null, null, '1001'));
  if (hans) script.push(call(hans.phone.replace('+', '00'), 'HUBER BAU', '1002'));
  if (juergen) script.push(call(juergen.phone, `${juergen.first_name} ${juergen.last_name}`, '1001'));
  if (aylin) script.push(call(aylin.phone, `${aylin.first_name} ${aylin.last_name}`, '1002'));
  return script;
}
