import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv, { type ValidateFunction } from 'ajv';
import { parse } from 'yaml';
import { compileMapping } from '../src/mapping/compile-mapping.js';
import type { PopContext } from '../src/mapping/mapping-api.js';
import { mappingConfigSchema, type MappingConfig } from '../src/mapping/mapping-config.js';
import type { CallEvent } from '../src/model/call-event.js';
import type { CustomerMatch, CustomerRecord } from '../src/model/customer.js';
import type { PopPayload } from '../src/model/pop.js';

/**
 * One template using every construct, rendered against records shaped like each built-in
 * connector's output, and every pop checked against docs/pop.schema.json.
 */

const docs = (name: string) => new URL(`../../docs/${name}`, import.meta.url);

// ajv is CommonJS; under NodeNext its default export is the module namespace.
const AjvClass = Ajv as unknown as typeof Ajv.default;
const popSchema = JSON.parse(readFileSync(docs('pop.schema.json'), 'utf8')) as object;
const validatePop: ValidateFunction = new AjvClass({ allErrors: true, strict: true }).compile(popSchema);

function assertValidPop(pop: PopPayload): void {
  assert.ok(validatePop(pop), `pop does not match docs/pop.schema.json: ${JSON.stringify(validatePop.errors)}`);
}

const everything: MappingConfig = {
  tables: { tiers: { G: 'Gold', S: 'Silver', V: 'VIP' } },
  skills: { billing: ['billing-de', 'billing-en'] },
  templates: [
    {
      name: 'everything',
      match: { skills: ['billing'] },
      label: '{first_name} {last_name} {name.first} {name.last} {Name} ({company} {company.name} {Account.Name})',
      fields: {
        name: { expr: "$exists(Name) ? Name : $join([first_name, last_name, name.first, name.last], ' ')", default: 'Unknown caller' },
        company: { expr: "$type(company) = 'string' ? company : (company.name ? company.name : Account.Name)" },
        crm_id: 'id',
        sf_id: { path: 'Id' },
        city: { expr: '[city, address.city, MailingCity][0]', default: '-' },
        phone: { expr: '[phone, contact.phones[0], Phone][0]', mask: 'last4', mask_for: ['agent'] },
        email: { expr: '[email, contact.email, Email][0]', hide_from: ['trainee'] },
        tier: { expr: "$table('tiers', [tier, Tier__c][0], 'Standard')" },
        since: { expr: "$formatDate([since, created_at, CreatedDate][0], '[D01].[M01].[Y0001]')", default: '-' },
        balance: { expr: "$formatNumber(balance, '#,##0.00')" },
        source: { value: 'crm' },
        caller: { expr: '$call.caller.name' },
        matches: { expr: '$matches' },
        vip: {
          when: "[tier, Tier__c][0] = 'V'",
          group: { hotline: { value: '+49 30 555 0100' }, notes: { path: 'notes', default: 'none' } },
        },
        open_orders: { list: 'orders', where: "status = 'open'", limit: 2, fields: { no: 'no', total: { expr: "$formatNumber(total, '0.00')" } } },
        cases: { list: 'Cases.records', limit: 3, fields: { subject: 'Subject', priority: { path: 'Priority', mask: 'all', mask_for: ['trainee'] } } },
      },
      links: {
        crm_url: 'https://crm.example.com/customers/{id}',
        sf_url: 'https://example.my.salesforce.com/{Id}',
        match_url: 'https://crm.example.com/{$source}/{$id}',
      },
    },
    { name: 'default', fields: { name: 'first_name' } },
  ],
};

const sqlRow: CustomerRecord = {
  id: 42,
  first_name: 'Ann',
  last_name: 'Lee',
  company: 'Lee Logistics',
  phone: '+4930123456',
  email: 'ann@lee.example',
  tier: 'V',
  city: 'Berlin',
  notes: null,
  balance: 1234.5,
  since: '2019-04-01 09:30:00',
};

const restObject: CustomerRecord = {
  id: 'c/42',
  name: { first: 'Ann', last: 'Lee' },
  company: { name: 'Lee Logistics', vat: 'DE123' },
  contact: { phones: ['+4930123456', '+4917000000'], email: 'ann@lee.example' },
  tier: 'G',
  address: { city: 'Berlin', zip: '10115' },
  created_at: '2019-04-01T09:30:00Z',
  orders: [
    { no: 'O-1', status: 'open', total: 10 },
    { no: 'O-2', status: 'closed', total: 20 },
    { no: 'O-3', status: 'open', total: 30.5 },
    { no: 'O-4', status: 'open', total: 40 },
  ],
};

const salesforceContact: CustomerRecord = {
  attributes: { type: 'Contact', url: '/services/data/v59.0/sobjects/Contact/003XX0000001' },
  Id: '003XX0000001',
  Name: 'Ann Lee',
  Phone: '+4930123456',
  Email: null,
  Tier__c: 'V',
  MailingCity: 'Berlin',
  CreatedDate: '2019-04-01T09:30:00.000+0000',
  Account: { attributes: { type: 'Account', url: '/services/data/v59.0/sobjects/Account/001XX' }, Name: 'Lee Logistics' },
  Cases: {
    totalSize: 2,
    done: true,
    records: [
      { attributes: { type: 'Case' }, Subject: 'Invoice wrong', Priority: 'High' },
      { attributes: { type: 'Case' }, Subject: 'Address change', Priority: 'Low' },
    ],
  },
};

function ctx(match: CustomerMatch | null, role: string): PopContext {
  const call: CallEvent = {
    kind: 'ringing',
    callId: '1700000000.10',
    legId: '1700000000.11',
    pbxId: 'pbx1',
    direction: 'inbound',
    caller: { number: '+4930123456', name: 'ANN LEE' },
    callee: { number: '1001', name: null },
    agent: { extension: '1001', device: 'PJSIP/1001' },
    queue: 'billing-de',
    anonymous: false,
    at: 1_700_000_000_000,
  };
  return { call, lookup: { number: '+4930123456', candidates: [], matches: match === null ? [] : [match], errors: [], pending: false }, match, role };
}

const common = { source: 'crm', caller: 'ANN LEE', matches: 1 };

describe('mapping: one template with every construct, on each connector shape', () => {
  const m = compileMapping(everything, { file: 'config.yaml' });

  it('selects the template by skill group for a billing queue', () => {
    assert.equal(m.select(ctx(null, 'agent')), 'everything');
  });

  it('renders an SQL row (flat columns)', async () => {
    const pop = await m.render(ctx({ source: 'sql', id: '42', record: sqlRow }, 'agent'));
    assert.deepEqual(pop, {
      template: 'everything',
      fields: {
        name: 'Ann Lee',
        company: 'Lee Logistics',
        crm_id: 42,
        city: 'Berlin',
        phone: '****3456',
        email: 'ann@lee.example',
        tier: 'VIP',
        since: '01.04.2019',
        balance: '1,234.50',
        ...common,
        vip: { hotline: '+49 30 555 0100', notes: 'none' },
      },
      links: { crm_url: 'https://crm.example.com/customers/42', match_url: 'https://crm.example.com/sql/42' },
    });
    assertValidPop(pop);
  });

  it('renders a REST object (nested JSON with arrays)', async () => {
    const pop = await m.render(ctx({ source: 'rest', id: 'c/42', record: restObject }, 'supervisor'));
    assert.deepEqual(pop, {
      template: 'everything',
      fields: {
        name: 'Ann Lee',
        company: 'Lee Logistics',
        crm_id: 'c/42',
        city: 'Berlin',
        phone: '+4930123456',
        email: 'ann@lee.example',
        tier: 'Gold',
        since: '01.04.2019',
        ...common,
        open_orders: [
          { no: 'O-1', total: '10.00' },
          { no: 'O-3', total: '30.50' },
        ],
      },
      links: { crm_url: 'https://crm.example.com/customers/c%2F42', match_url: 'https://crm.example.com/rest/c%2F42' },
    });
    assertValidPop(pop);
  });

  it('renders a Salesforce record (Id, Name, Account.Name, attributes, subquery)', async () => {
    const pop = await m.render(ctx({ source: 'salesforce', id: '003XX0000001', record: salesforceContact }, 'trainee'));
    assert.deepEqual(pop, {
      template: 'everything',
      fields: {
        name: 'Ann Lee',
        company: 'Lee Logistics',
        sf_id: '003XX0000001',
        city: 'Berlin',
        phone: '+4930123456',
        tier: 'VIP',
        since: '01.04.2019',
        ...common,
        vip: { hotline: '+49 30 555 0100', notes: 'none' },
        cases: [
          { subject: 'Invoice wrong', priority: '****' },
          { subject: 'Address change', priority: '****' },
        ],
      },
      links: { sf_url: 'https://example.my.salesforce.com/003XX0000001', match_url: 'https://crm.example.com/salesforce/003XX0000001' },
    });
    assertValidPop(pop);
  });

  it('renders an unknown caller with the same template', async () => {
    const pop = await m.render(ctx(null, 'agent'));
    assert.deepEqual(pop, {
      template: 'everything',
      fields: { name: 'Unknown caller', city: '-', tier: 'Standard', since: '-', source: 'crm', caller: 'ANN LEE', matches: 0 },
      links: {},
    });
    assertValidPop(pop);
  });

  it('labels each shape the same way for the picker', () => {
    assert.equal(m.label({ source: 'sql', record: sqlRow }, 'everything'), 'Ann Lee (Lee Logistics)');
    assert.equal(m.label({ source: 'rest', record: restObject }, 'everything'), 'Ann Lee (Lee Logistics)');
    assert.equal(m.label({ source: 'salesforce', record: salesforceContact }, 'everything'), 'Ann Lee (Lee Logistics)');
  });

  it('has a pop schema that rejects a malformed pop', () => {
    assert.equal(validatePop({ template: 'x', fields: { a: () => 1 }, links: {} }), false);
    assert.equal(validatePop({ template: 'x', fields: {}, links: { crm: 'javascript:alert(1)' } }), false);
    assert.equal(validatePop({ template: 'x', fields: {} }), false);
  });
});

describe('mapping: config schema and the documented example', () => {
  const ajv = new AjvClass({ allErrors: true, useDefaults: true, strict: false });
  const validateMapping = ajv.compile(mappingConfigSchema);
  const example = (parse(readFileSync(join(process.cwd(), 'config.example.yaml'), 'utf8')) as { mapping: MappingConfig }).mapping;

  it('accepts the documented mapping block and fills no surprises', () => {
    const block = structuredClone(example);
    assert.ok(validateMapping(block), JSON.stringify(validateMapping.errors));
  });

  it('compiles under ajv strict mode too', () => {
    assert.doesNotThrow(() => new AjvClass({ strict: true, useDefaults: true }).compile(mappingConfigSchema));
  });

  it('fills the defaults of a minimal block', () => {
    const block: Record<string, unknown> = { templates: [{ name: 'default', fields: { name: 'first_name' } }] };
    assert.ok(validateMapping(block), JSON.stringify(validateMapping.errors));
    assert.equal(block.default_template, 'default');
    assert.equal(block.default_role, 'agent');
    assert.equal(block.max_list_items, 50);
    assert.deepEqual(block.tables, {});
  });

  it('rejects a typo in a field option and a field with two kinds', () => {
    assert.equal(validateMapping({ templates: [{ name: 'default', fields: { a: { path: 'x', hide_form: ['agent'] } } }] }), false);
    assert.equal(validateMapping({ templates: [{ name: 'default', fields: { a: { path: 'x', expr: 'y' } } }] }), false);
    assert.equal(validateMapping({ templates: [{ name: 'default', fields: { a: { group: { b: { group: { c: { list: 'x' } } } } } } }] }), false);
  });

  it('renders the demo customers row with the minimal default template', async () => {
    const m = compileMapping(example, { file: 'config.yaml' });
    const row: CustomerRecord = { id: 7, first_name: 'Ann', last_name: 'Lee', company: 'ACME', phone: '+4930123456', email: 'a@acme.example', tier: 'G', city: 'Berlin', notes: null };
    const c = ctx({ source: 'crm', id: '7', record: row }, 'agent');
    c.call.queue = 'support';
    assert.equal(m.select(c), 'default');
    const pop = await m.render(c);
    assert.deepEqual(pop, {
      template: 'default',
      fields: { name: 'Ann Lee', company: 'ACME', tier: 'Gold', account_id: 7 },
      links: { crm_url: 'https://crm.example.com/customers/7' },
    });
    assertValidPop(pop);
  });

  it('renders the documented billing template for a VIP', async () => {
    const m = compileMapping(example, { file: 'config.yaml' });
    const row: CustomerRecord = { id: 8, first_name: 'Bo', last_name: 'Chen', company: null, phone: '+4930987654', email: 'bo@x.example', tier: 'V', city: null, notes: 'call back' };
    const c = ctx({ source: 'crm', id: '8', record: row }, 'agent');
    c.call.queue = 'billing';
    c.call.did = '+49305550100';
    const pop = await m.render(c);
    assert.deepEqual(pop.fields, {
      name: 'Bo Chen',
      tier: 'VIP',
      phone: '****7654',
      email: 'bo@x.example',
      city: '-',
      dialled: '+49305550100',
      vip: { hotline: '+49 30 555 0100', notes: 'call back' },
    });
    assertValidPop(pop);
  });
});

describe('mapping: the complete example in docs/mapping.md', () => {
  const text = readFileSync(docs('mapping.md'), 'utf8');
  const section = text.slice(text.indexOf('## A complete example'));
  const yamlBlock = /```yaml\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
  const jsonBlock = /```json\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
  const config = (parse(yamlBlock) as { mapping: MappingConfig }).mapping;

  it('is a valid mapping block', () => {
    const validate = new AjvClass({ allErrors: true, useDefaults: true, strict: false }).compile(mappingConfigSchema);
    assert.ok(validate(structuredClone(config)), JSON.stringify(validate.errors));
  });

  it('renders exactly the documented pop', async () => {
    const m = compileMapping(config, { file: 'config.yaml' });
    const record: CustomerRecord = {
      id: 'C-42',
      first_name: 'Ann',
      last_name: 'Lee',
      company: 'Lee Logistics',
      phone: '+4930123456',
      card: '4111111111111111',
      email: 'ann@lee.example',
      ssn: '123-45-6789',
      tier: 'V',
      since: '2019-04-01',
      balance: 1234.5,
      account_manager: 'Bob',
      address: { city: 'Berlin' },
      tickets: [
        { subject: 'Invoice wrong', status: 'open', opened: '2024-03-05 08:00:00' },
        { subject: 'Old question', status: 'closed', opened: '2023-01-01 08:00:00' },
      ],
      orders: [
        { order_no: 'O-3', total: 30, date: '2024-01-03' },
        { order_no: 'O-4', total: 40, date: '2024-01-04' },
      ],
    };
    const c = ctx({ source: 'crm', id: 'C-42', record }, 'agent');
    c.call.did = '+49305550100';
    const pop = await m.render(c);
    assert.deepEqual(pop, JSON.parse(jsonBlock));
    assertValidPop(pop);
  });
});
