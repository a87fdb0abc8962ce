import { SAMPLE_LOG_CALL_QUERY, SAMPLE_LOOKUP_QUERY } from '../sim/sample-crm.js';

export interface DemoSettings {
  host: string;
  port: number;
  /** The simulated PBX's `pbx:` entry (demo-pbx.ts). */
  pbx: Record<string, unknown>;
  token: string;
  dir: string;
}

/**
 * The embedded default behind `callpop demo`: the same config an admin would write, pointing
 * at the built-in PBX simulator (AMI or ESL) and the sample SQLite CRM. Kept as data so it goes through
 * the same validation as a real config file.
 */
export function demoConfig(s: DemoSettings): Record<string, unknown> {
  return {
    log: { level: 'info' },
    pbx: [s.pbx],
    connectors: [
      {
        name: 'crm',
        type: 'sql',
        driver: 'sqlite',
        file: 'crm.sqlite',
        id_field: 'id',
        lookup_query: SAMPLE_LOOKUP_QUERY,
        log_call_query: SAMPLE_LOG_CALL_QUERY,
      },
    ],
    lookup: { default_region: 'DE', sources: [{ connector: 'crm' }] },
    mapping: {
      tables: { tiers: { VIP: 'VIP customer', Gold: 'Gold', Silver: 'Silver', Standard: 'Standard' } },
      templates: [
        {
          name: 'default',
          label: '{first_name} {last_name} ({company})',
          fields: {
            // No CRM match: fall back to the name the PBX presented (shown as text, never code).
            name: { expr: "$exists(first_name) ? $join([first_name, last_name], ' ') : $call.caller.name" },
            company: 'company',
            tier: { expr: "$table('tiers', tier)" },
            city: 'city',
            email: { path: 'email', mask: 'email', mask_for: ['trainee'] },
            notes: { path: 'notes', when: "notes != ''" },
            account_id: 'id',
          },
          links: { crm_url: 'https://crm.example.com/customers/{id}' },
        },
      ],
    },
    hub: {
      host: s.host,
      port: s.port,
      tokens: [{ name: 'demo', token: s.token, agents: ['*'], role: 'agent', admin: true }],
    },
    store: { file: 'callpop.sqlite', writeback: { connectors: ['crm'] } },
  };
}
