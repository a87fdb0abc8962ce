import assert from 'node:assert/strict';
import jsonata from 'jsonata';
import { compileMapping } from '../src/mapping/compile-mapping.js';
import { JSONATA_FUNCTIONS } from '../src/mapping/expression-functions.js';
import type { PopContext } from '../src/mapping/mapping-api.js';
import type { FieldsConfig, MappingConfig, TemplateConfig } from '../src/mapping/mapping-config.js';
import type { CallEvent } from '../src/model/call-event.js';
import type { CustomerMatch, CustomerRecord } from '../src/model/customer.js';
import type { Logger } from '../src/model/logger.js';

function call(over: Partial<CallEvent> = {}): CallEvent {
  return {
    kind: 'ringing',
    callId: '1700000000.10',
    legId: '1700000000.11',
    pbxId: 'pbx-berlin',
    direction: 'inbound',
    caller: { number: '+4930123456', name: 'Ann Lee' },
    callee: { number: '1001', name: null },
    agent: { extension: '1001', device: 'PJSIP/1001' },
    queue: 'support',
    did: '+49 30 555 0100',
    anonymous: false,
    at: 1_700_000_000_000,
    ...over,
  };
}

function ctx(record: CustomerRecord | null, over: { call?: Partial<CallEvent>; role?: string; id?: string; extraMatches?: number } = {}): PopContext {
  const match: CustomerMatch | null = record === null ? null : { source: 'crm', ...(over.id !== undefined ? { id: over.id } : {}), record };
  const others: CustomerMatch[] = Array.from({ length: over.extraMatches ?? 0 }, (_, i) => ({ source: 'crm', id: `x${i}`, record: {} }));
  return {
    call: call(over.call),
    lookup: { number: '+4930123456', candidates: ['+4930123456'], matches: match === null ? others : [match, ...others], errors: [], pending: false },
    match,
    ...(over.role !== undefined ? { role: over.role } : {}),
  };
}

function one(fields: FieldsConfig, extra: Partial<MappingConfig> = {}, template: Partial<TemplateConfig> = {}): MappingConfig {
  return { ...extra, templates: [{ name: 'default', fields, ...template }] };
}

async function fieldsOf(fields: FieldsConfig, record: CustomerRecord | null, extra: Partial<MappingConfig> = {}, role?: string) {
  const m = compileMapping(one(fields, extra), { file: 'config.yaml' });
  return (await m.render(ctx(record, role === undefined ? {} : { role }))).fields;
}

interface Captured {
  level: string;
  obj: unknown;
  msg?: string;
}
function capturingLogger(lines: Captured[]): Logger {
  const log = (level: string) => (obj: object | string, msg?: string) => void lines.push({ level, obj, ...(msg !== undefined ? { msg } : {}) });
  const logger: Logger = { trace: log('trace'), debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error'), child: () => logger };
  return logger;
}

const ann: CustomerRecord = {
  id: 'C-42',
  first_name: 'Ann',
  last_name: 'Lee',
  company: 'Lee Logistics',
  tier: 'G',
  balance: 12345.5,
  since: '2019-04-01 09:30:00',
  phone: '+4930123456',
  address: { city: 'Berlin', zip: '10115' },
  orders: [
    { no: 'O-1', status: 'open', total: 10 },
    { no: 'O-2', status: 'closed', total: 20 },
    { no: 'O-3', status: 'open', total: 30 },
    { no: 'O-4', status: 'open', total: 40 },
  ],
};

describe('mapping: fields', () => {
  it('reads a plain string as a record path, nested paths included', async () => {
    const f = await fieldsOf({ name: 'first_name', city: 'address.city', first_order: 'orders[0].no', second: 'orders.1.no' }, ann);
    assert.deepEqual(f, { name: 'Ann', city: 'Berlin', first_order: 'O-1', second: 'O-2' });
  });

  it('keeps the fields in template order', async () => {
    const f = await fieldsOf({ zeta: 'id', alpha: { value: 1 }, mid: { expr: 'first_name' } }, ann);
    assert.deepEqual(Object.keys(f), ['zeta', 'alpha', 'mid']);
  });

  it('shows a literal value', async () => {
    const f = await fieldsOf({ hotline: { value: '+49 30 999' }, flags: { value: { vip: true, n: [1, 2] } } }, ann);
    assert.deepEqual(f, { hotline: '+49 30 999', flags: { vip: true, n: [1, 2] } });
  });

  it('joins fields with an expression', async () => {
    const f = await fieldsOf({ name: { expr: "first_name & ' ' & last_name" } }, ann);
    assert.equal(f.name, 'Ann Lee');
  });

  it('formats numbers and dates, including SQL datetime text', async () => {
    const f = await fieldsOf(
      {
        balance: { expr: "$formatNumber(balance, '#,##0.00')" },
        since: { expr: "$formatDate(since, '[D01].[M01].[Y0001]')" },
        iso: { expr: "$formatDate('2024-02-29T23:30:00Z', '[Y0001]-[M01]-[D01] [H01]:[m01]', '+0100')" },
      },
      ann,
    );
    assert.deepEqual(f, { balance: '12,345.50', since: '01.04.2019', iso: '2024-03-01 00:30' });
  });

  it('uses the default when the value is missing, null or blank', async () => {
    const f = await fieldsOf(
      {
        missing: { path: 'nope', default: 'n/a' },
        nulled: { path: 'fax', default: 'no fax' },
        blank: { expr: "nope & ' '", default: 'blank' },
        present: { path: 'first_name', default: 'x' },
      },
      { ...ann, fax: null },
    );
    assert.deepEqual(f, { missing: 'n/a', nulled: 'no fax', blank: 'blank', present: 'Ann' });
  });

  it('leaves out a missing field that has no default', async () => {
    const f = await fieldsOf({ name: 'first_name', fax: 'fax' }, { ...ann, fax: null });
    assert.deepEqual(f, { name: 'Ann' });
  });

  it('treats SQL NULL columns as missing inside expressions instead of printing null', async () => {
    const f = await fieldsOf({ name: { expr: "first_name & ' ' & last_name" } }, { first_name: 'Ann', last_name: null });
    assert.equal(f.name, 'Ann ');
  });

  it('looks up a value in a YAML table, with a fallback for unknown keys', async () => {
    const tables = { tiers: { G: 'Gold', S: 'Silver' } };
    const f = await fieldsOf(
      {
        tier: { expr: "$table('tiers', tier)" },
        unknown: { expr: "$table('tiers', 'X')", default: 'Standard' },
        raw: { expr: "$table('tiers', 'X', 'X')" },
      },
      ann,
      { tables },
    );
    assert.deepEqual(f, { tier: 'Gold', unknown: 'Standard', raw: 'X' });
  });

  it('shows a field only when its condition holds', async () => {
    const fields: FieldsConfig = { badge: { value: 'VIP', when: "tier = 'V'" }, name: 'first_name' };
    assert.deepEqual(await fieldsOf(fields, { ...ann, tier: 'V' }), { badge: 'VIP', name: 'Ann' });
    assert.deepEqual(await fieldsOf(fields, ann), { name: 'Ann' });
  });

  it('shows a VIP group only when tier is VIP', async () => {
    const fields: FieldsConfig = { vip: { when: "tier = 'V'", group: { hotline: { value: '+49 30 999' }, since: 'since' } } };
    assert.deepEqual(await fieldsOf(fields, { ...ann, tier: 'V' }), { vip: { hotline: '+49 30 999', since: '2019-04-01 09:30:00' } });
    assert.deepEqual(await fieldsOf(fields, ann), {});
  });

  it('leaves out a group whose fields are all missing', async () => {
    assert.deepEqual(await fieldsOf({ extra: { group: { a: 'nope', b: 'nada' } }, name: 'first_name' }, ann), { name: 'Ann' });
  });

  it('lists the open orders, mapped per item and cut at the limit', async () => {
    const f = await fieldsOf(
      { open: { list: 'orders', where: "status = 'open'", limit: 2, fields: { no: 'no', total: { expr: "$formatNumber(total, '0.00')" } } } },
      ann,
    );
    assert.deepEqual(f.open, [
      { no: 'O-1', total: '10.00' },
      { no: 'O-3', total: '30.00' },
    ]);
  });

  it('takes a list from an expression and passes items as they are without item fields', async () => {
    const f = await fieldsOf({ latest: { list: { expr: 'orders^(>total)' }, limit: 2 } }, ann);
    assert.deepEqual(f.latest, [
      { no: 'O-4', status: 'open', total: 40 },
      { no: 'O-3', status: 'open', total: 30 },
    ]);
  });

  it('caps every list at max_list_items even without a limit', async () => {
    const orders = Array.from({ length: 20 }, (_, i) => ({ no: i }));
    const f = await fieldsOf({ all: { list: 'orders' }, mapped: { expr: 'orders.no', limit: 3 }, raw: { expr: 'orders.no' }, path: 'orders' }, { orders }, { max_list_items: 5 });
    assert.equal((f.all as unknown[]).length, 5);
    assert.deepEqual(f.mapped, [0, 1, 2]);
    assert.deepEqual(f.raw, [0, 1, 2, 3, 4]);
    assert.equal((f.path as unknown[]).length, 5);
  });

  it('treats a single object where a list was expected as a list of one', async () => {
    const f = await fieldsOf({ tickets: { list: 'ticket', fields: { id: 'id' } } }, { ticket: { id: 7 } });
    assert.deepEqual(f.tickets, [{ id: 7 }]);
  });

  it('shows an empty list as empty and a missing list as its default', async () => {
    const fields: FieldsConfig = { orders: { list: 'orders', default: [] }, tickets: { list: 'tickets' } };
    assert.deepEqual(await fieldsOf(fields, { orders: [] }), { orders: [] });
    assert.deepEqual(await fieldsOf(fields, { nothing: 1 }), { orders: [] });
  });

  it('does not map over arrays with a plain path (an expression does)', async () => {
    const f = await fieldsOf({ path: 'orders.no', expr: { expr: 'orders.no' } }, ann);
    assert.deepEqual(f, { expr: ['O-1', 'O-2', 'O-3', 'O-4'] });
  });

  it('never reads prototype properties through a path', async () => {
    const f = await fieldsOf({ a: 'constructor', b: 'first_name.length', c: 'orders.length' }, ann);
    assert.deepEqual(f, {});
  });

  it('gives pops that share no objects with the record', async () => {
    const record: CustomerRecord = { address: { city: 'Berlin' } };
    const f = await fieldsOf({ address: 'address', via: { expr: 'address' } }, record);
    (f.address as { city: string }).city = 'Paris';
    (f.via as { city: string }).city = 'Rome';
    assert.deepEqual(record, { address: { city: 'Berlin' } });
  });

  it('has a built-in function list that matches JSONata itself', async () => {
    for (const name of JSONATA_FUNCTIONS) {
      assert.equal(await jsonata(`$type($${name})`).evaluate({}), 'function', `$${name}`);
    }
  });
});

describe('mapping: call data in expressions', () => {
  it('binds the call as $call and the match count as $matches', async () => {
    const m = compileMapping(
      one({
        who: { expr: '$call.caller.name & " on " & $call.queue & " via " & $call.did & " for " & $call.agent' },
        dir: { expr: '$call.direction & "/" & $call.pbx & "/" & $call.number' },
        n: { expr: '$matches' },
        src: { expr: '$source & ":" & $id' },
      }),
      { file: 'config.yaml' },
    );
    const pop = await m.render(ctx(ann, { id: 'C-42', extraMatches: 2 }));
    assert.deepEqual(pop.fields, {
      who: 'Ann Lee on support via +49 30 555 0100 for 1001',
      dir: 'inbound/pbx-berlin/+4930123456',
      n: 3,
      src: 'crm:C-42',
    });
  });

  it('reads simple $call paths exactly as JSONata would', async () => {
    const m = compileMapping(
      one({
        direct: { expr: '$call.caller.name' },
        via_jsonata: { expr: "$call.caller.name & ''" },
        missing: { expr: '$call.caller.nope.deeper' },
        proto: { expr: '$call.constructor' },
        count: { expr: '$matches' },
      }),
      { file: 'c.yaml' },
    );
    const pop = await m.render(ctx(ann, { extraMatches: 1 }));
    assert.deepEqual(pop.fields, { direct: 'Ann Lee', via_jsonata: 'Ann Lee', count: 2 });
  });

  it('treats a plain string as a record path even when it looks like an expression', async () => {
    const f = await fieldsOf({ caller: '$call.caller.name', name: 'first_name' }, { ...ann, $call: { caller: { name: 'from the record' } } });
    assert.deepEqual(f, { caller: 'from the record', name: 'Ann' });
  });

  it('passes caller ID only as data: expression syntax in the caller name is shown, not run', async () => {
    const evil = `"' & $eval('$millis()') & '" ) ; $error("pwned")`;
    const m = compileMapping(one({ caller: { expr: "'Caller: ' & $call.caller.name" }, upper: { expr: '$uppercase($call.caller.name)' } }), { file: 'c.yaml' });
    const pop = await m.render(ctx(ann, { call: { caller: { number: '+1', name: evil } } }));
    assert.equal(pop.fields.caller, `Caller: ${evil}`);
    assert.equal(pop.fields.upper, evil.toUpperCase());
  });

  it('renders an unknown caller: record fields absent or default, call data present', async () => {
    const m = compileMapping(
      one({
        name: { expr: "$join([first_name, last_name], ' ')", default: 'Unknown caller' },
        company: 'company',
        number: { expr: '$call.caller.number' },
        n: { expr: '$matches' },
        vip: { group: { x: { value: 1 } }, when: "tier = 'V'" },
      }),
      { file: 'c.yaml' },
    );
    const pop = await m.render(ctx(null));
    assert.deepEqual(pop, { template: 'default', fields: { name: 'Unknown caller', number: '+4930123456', n: 0 }, links: {} });
  });

  it('renders an anonymous call', async () => {
    const m = compileMapping(
      one({ name: { expr: '$call.caller.name', default: 'Anonymous' }, anon: { expr: '$call.anonymous' }, agent: { expr: '$call.agent' } }),
      { file: 'c.yaml' },
    );
    const c = ctx(null, { call: { anonymous: true, caller: { number: null, name: null } } });
    c.lookup.number = '';
    const pop = await m.render(c);
    assert.deepEqual(pop.fields, { name: 'Anonymous', anon: true, agent: '1001' });
  });
});

describe('mapping: masking by role', () => {
  const fields: FieldsConfig = {
    card: { path: 'card', mask: 'last4' },
    phone: { path: 'phone', mask: 'last2', mask_for: ['agent'] },
    email: { path: 'email', mask: 'email' },
    ssn: { path: 'ssn', hide_from: ['agent', 'trainee'] },
    pin: { value: '1234', mask: 'all' },
    name: { path: 'name', mask: 'first1', mask_for: ['trainee'] },
  };
  const rec: CustomerRecord = { card: '4111111111111111', phone: '+4930123456', email: 'ann.lee@example.com', ssn: '123-45-6789', name: 'Ann' };

  it('masks a card number to its last four digits', async () => {
    assert.equal((await fieldsOf(fields, rec, {}, 'supervisor')).card, '****1111');
  });

  it('masks for the listed roles only and shows the clear value to others', async () => {
    assert.equal((await fieldsOf(fields, rec, {}, 'agent')).phone, '****56');
    assert.equal((await fieldsOf(fields, rec, {}, 'supervisor')).phone, '+4930123456');
  });

  it('drops a field for roles that may not see it', async () => {
    assert.equal('ssn' in (await fieldsOf(fields, rec, {}, 'agent')), false);
    assert.equal((await fieldsOf(fields, rec, {}, 'supervisor')).ssn, '123-45-6789');
  });

  it('treats a token without a role as default_role', async () => {
    const f = await fieldsOf(fields, rec, { default_role: 'trainee' });
    assert.equal('ssn' in f, false);
    assert.equal(f.name, 'A****');
    assert.equal(f.phone, '+4930123456');
  });

  it('masks emails and short values without revealing their length', async () => {
    const f = await fieldsOf({ ...fields, short: { value: '12345', mask: 'last4' } }, rec, {}, 'agent');
    assert.equal(f.email, 'a****@example.com');
    assert.equal(f.pin, '****');
    assert.equal(f.short, '****');
  });

  it('drops a link that carries a field masked or hidden for the role', async () => {
    const m = compileMapping(one(fields, {}, { links: { ssn_lookup: 'https://gov.example/{ssn}', card: 'https://pay.example/{card}', plain: 'https://crm.example/{name}' } }), { file: 'c.yaml' });
    const asAgent = await m.render({ ...ctx(rec), role: 'agent' });
    assert.deepEqual(asAgent.links, { plain: 'https://crm.example/Ann' });
    const asLead = await m.render({ ...ctx(rec), role: 'supervisor' });
    assert.deepEqual(asLead.links, { ssn_lookup: 'https://gov.example/123-45-6789', plain: 'https://crm.example/Ann' });
  });
});

describe('mapping: hidden groups', () => {
  it('drops a whole group, and links to its paths, for a role it is hidden from', async () => {
    const m = compileMapping(
      one({ name: 'first_name', billing: { hide_from: ['agent'], group: { iban: 'iban' } } }, {}, { links: { bank: 'https://bank.example/{iban}' } }),
      { file: 'c.yaml' },
    );
    const rec: CustomerRecord = { first_name: 'Ann', iban: 'DE89370400440532013000' };
    assert.deepEqual(await m.render({ ...ctx(rec), role: 'agent' }), { template: 'default', fields: { name: 'Ann' }, links: {} });
    const lead = await m.render({ ...ctx(rec), role: 'supervisor' });
    assert.deepEqual(lead.fields.billing, { iban: 'DE89370400440532013000' });
    assert.equal(lead.links.bank, 'https://bank.example/DE89370400440532013000');
  });
});

describe('mapping: links and labels', () => {
  it('fills a link from the record and URL-encodes every value', async () => {
    const m = compileMapping(one({ name: 'first_name' }, {}, { links: { crm_url: 'https://crm.example.com/customers/{id}?q={last_name}' } }), { file: 'c.yaml' });
    const pop = await m.render(ctx({ id: 'a/b?c=1&d', last_name: 'Lee & Sons #1' }));
    assert.equal(pop.links.crm_url, 'https://crm.example.com/customers/a%2Fb%3Fc%3D1%26d?q=Lee%20%26%20Sons%20%231');
  });

  it('leaves a link out when a placeholder value is missing', async () => {
    const m = compileMapping(one({ name: 'first_name' }, {}, { links: { crm_url: 'https://crm.example.com/c/{id}', sf: 'https://sf.example.com/{$id}' } }), { file: 'c.yaml' });
    const pop = await m.render(ctx({ first_name: 'Ann' }, { id: '001XYZ' }));
    assert.deepEqual(pop.links, { sf: 'https://sf.example.com/001XYZ' });
    assert.deepEqual((await m.render(ctx(null))).links, {});
  });

  it('labels a match for the picker from the template label', () => {
    const m = compileMapping(one({ name: 'first_name' }, {}, { label: '{first_name} {last_name} ({company})' }), { file: 'c.yaml' });
    assert.equal(m.label({ source: 'crm', record: { first_name: 'Ann', last_name: 'Lee', company: 'ACME' } }), 'Ann Lee (ACME)');
    assert.equal(m.label({ source: 'crm', record: { first_name: 'Ann', last_name: 'Lee', company: null } }), 'Ann Lee');
  });

  it('labels a match by its id, then its source, when the label comes out empty', () => {
    const m = compileMapping(one({ name: 'first_name' }, {}, { label: '{first_name}' }), { file: 'c.yaml' });
    assert.equal(m.label({ source: 'crm', id: 'C-1', record: {} }), 'C-1');
    assert.equal(m.label({ source: 'crm', record: {} }), 'crm');
  });
});

describe('mapping: template selection', () => {
  const config: MappingConfig = {
    skills: { billing: ['billing-de', 'billing-en'] },
    templates: [
      { name: 'vip-line', match: { dids: ['+49 30 555-0199'] }, fields: { t: { value: 'vip-line' } } },
      { name: 'billing', match: { skills: ['billing'] }, fields: { t: { value: 'billing' } } },
      { name: 'sales', match: { queues: ['sales'] }, fields: { t: { value: 'sales' } } },
      { name: 'lead', match: { roles: ['supervisor'], directions: ['inbound'] }, fields: { t: { value: 'lead' } } },
      { name: 'never', fields: { t: { value: 'never' } } },
      { name: 'default', fields: { t: { value: 'default' } } },
    ],
  };
  const m = compileMapping(config, { file: 'c.yaml' });

  it('lists the template names in order', () => {
    assert.deepEqual(m.templates, ['vip-line', 'billing', 'sales', 'lead', 'never', 'default']);
  });

  it('picks a template by queue', () => {
    assert.equal(m.select(ctx(ann, { call: { queue: 'sales' } })), 'sales');
  });

  it('picks a template by skill group', () => {
    assert.equal(m.select(ctx(ann, { call: { queue: 'billing-en' } })), 'billing');
  });

  it('picks a template by agent role', () => {
    assert.equal(m.select(ctx(ann, { role: 'supervisor' })), 'lead');
    assert.equal(m.select(ctx(ann, { role: 'supervisor', call: { direction: 'outbound' } })), 'default');
  });

  it('picks a template by DID, comparing digits only', () => {
    assert.equal(m.select(ctx(ann, { call: { did: '4930 5550199' } })), 'vip-line');
  });

  it('lets the first matching template win', () => {
    assert.equal(m.select(ctx(ann, { call: { did: '+49305550199', queue: 'sales' }, role: 'supervisor' })), 'vip-line');
  });

  it('falls back to the default template when nothing matches', async () => {
    assert.equal(m.select(ctx(ann, { call: { queue: 'other' } })), 'default');
    const pop = await m.render(ctx(ann, { call: { queue: 'other' } }));
    assert.deepEqual(pop, { template: 'default', fields: { t: 'default' }, links: {} });
  });

  it('renders with a template given by name', async () => {
    assert.equal((await m.render(ctx(ann), 'never')).fields.t, 'never');
  });

  it('renders with the default template when given an unknown name, and logs it once', async () => {
    const lines: Captured[] = [];
    const logged = compileMapping(config, { file: 'c.yaml' }, capturingLogger(lines));
    assert.equal((await logged.render(ctx(ann), 'gone')).template, 'default');
    await logged.render(ctx(ann), 'gone');
    assert.equal(lines.filter((l) => l.level === 'warn').length, 1);
  });

  it('uses default_template to name the fallback', () => {
    const custom = compileMapping({ ...config, default_template: 'never' }, { file: 'c.yaml' });
    assert.equal(custom.select(ctx(ann, { call: { queue: 'other' } })), 'never');
  });
});

describe('mapping: runtime errors', () => {
  it('leaves the rest of the pop intact when one field fails', async () => {
    const m = compileMapping(
      one({ name: 'first_name', bad: { expr: '$number(first_name)' }, bad_when: { value: 1, when: '$error("boom")' }, city: 'address.city' }),
      { file: 'c.yaml' },
    );
    const pop = await m.render(ctx(ann));
    assert.deepEqual(pop.fields, { name: 'Ann', city: 'Berlin' });
  });

  it('logs each failing field once per template, not per call, without the record value', async () => {
    const lines: Captured[] = [];
    const m = compileMapping(one({ bad: { expr: '$number(first_name)' }, fn: { expr: '$uppercase' } }), { file: 'c.yaml' }, capturingLogger(lines));
    for (let i = 0; i < 5; i++) await m.render(ctx(ann));
    const warns = lines.filter((l) => l.level === 'warn');
    assert.deepEqual(
      warns.map((w) => (w.obj as { field: string }).field).sort(),
      ['bad', 'fn'],
    );
    assert.equal((warns[0]!.obj as { template: string }).template, 'default');
    assert.equal(JSON.stringify(warns).includes('"Ann"'), false);
  });

  it('stops an expression that runs past expression_timeout_ms', async () => {
    const lines: Captured[] = [];
    const m = compileMapping(
      one({ spin: { expr: '($f := function($n){ $n > 0 ? $f($n - 1) : 0 }; $sum([1..20000].$f(50)))' }, name: 'first_name' }, { expression_timeout_ms: 5, expression_max_depth: 10000 }),
      { file: 'c.yaml' },
      capturingLogger(lines),
    );
    const pop = await m.render(ctx(ann));
    assert.deepEqual(pop.fields, { name: 'Ann' });
    assert.equal((lines[0]?.obj as { code?: string }).code, 'D1012');
  });

  it('stops runaway recursion at expression_max_depth', async () => {
    const lines: Captured[] = [];
    const m = compileMapping(one({ deep: { expr: '($f := function($n){ 1 + $f($n + 1) }; $f(0))' } }, { expression_max_depth: 50 }), { file: 'c.yaml' }, capturingLogger(lines));
    assert.deepEqual((await m.render(ctx(ann))).fields, {});
    assert.equal((lines[0]?.obj as { code?: string }).code, 'D1011');
  });
});
