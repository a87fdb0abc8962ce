import assert from 'node:assert/strict';
import { compileMapping } from '../src/mapping/compile-mapping.js';
import type { FieldsConfig, MappingConfig, TemplateConfig } from '../src/mapping/mapping-config.js';
import { isCallpopError } from '../src/model/errors.js';

/** Compiles `config` (cast: these tests feed deliberately wrong shapes) and returns the error message. */
function compileError(config: unknown): string {
  try {
    compileMapping(config as MappingConfig, { file: 'config.yaml' });
  } catch (err) {
    assert.ok(isCallpopError(err, 'CALLPOP_MAPPING_INVALID'), `expected CALLPOP_MAPPING_INVALID, got ${String(err)}`);
    return err.message;
  }
  assert.fail('compileMapping accepted an invalid mapping');
}

/** Two templates, so messages must name the right one: `templates[1] (vip)`. */
function withVip(fields: unknown, template: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): unknown {
  return {
    tables: { tiers: { G: 'Gold' } },
    skills: { billing: ['billing'] },
    ...extra,
    templates: [
      { name: 'default', fields: { name: 'first_name' } },
      { name: 'vip', fields, ...template },
    ],
  };
}

const at = 'config.yaml: mapping.templates[1] (vip)';

describe('mapping: compile errors name the file, template, key path and problem', () => {
  it('reports an unknown function at compile time, not at the first call', () => {
    assert.equal(compileError(withVip({ tier_label: { expr: "$fomat(tier, 'x')" } })), `${at}.fields.tier_label.expr: unknown function $fomat (position 6)`);
  });

  it('reports an unknown function nested in a filter, a lambda, a condition or an item field', () => {
    assert.match(compileError(withVip({ x: { expr: 'orders[$fomat(status)]' } })), /fields\.x\.expr: unknown function \$fomat/);
    assert.match(compileError(withVip({ x: { expr: '$map(orders, function($o){ $upper($o.no) })' } })), /fields\.x\.expr: unknown function \$upper/);
    assert.match(compileError(withVip({ x: { value: 1, when: '$isVip(tier)' } })), /fields\.x\.when: unknown function \$isVip/);
    assert.match(compileError(withVip({ x: { list: 'orders', fields: { t: { expr: 'total ~> $money()' } } } })), /fields\.x\.fields\.t\.expr: unknown function \$money/);
    assert.match(compileError(withVip({ x: { list: 'orders', where: '$open(status)' } })), /fields\.x\.where: unknown function \$open/);
    assert.match(compileError(withVip({ x: { list: { expr: '$latest(orders)' } } })), /fields\.x\.list\.expr: unknown function \$latest/);
    assert.match(compileError(withVip({ g: { group: { y: { expr: '$nope()' } } } })), /fields\.g\.group\.y\.expr: unknown function \$nope/);
  });

  it('accepts functions the expression binds itself', () => {
    assert.doesNotThrow(() =>
      compileMapping(withVip({ x: { expr: '($twice := function($v){ $v * 2 }; $map([1,2], function($n, $i){ $twice($n) + $i }))' } }) as MappingConfig, {
        file: 'config.yaml',
      }),
    );
  });

  it('reports an unknown variable such as a typo in $call', () => {
    assert.match(compileError(withVip({ x: { expr: '$cal.caller.name' } })), /fields\.x\.expr: unknown variable \$cal \(position \d+\); bound are \$call, \$matches/);
  });

  it('refuses $eval, called or passed around', () => {
    assert.match(compileError(withVip({ x: { expr: '$eval($call.caller.name)' } })), /fields\.x\.expr: function \$eval is not allowed/);
    assert.match(compileError(withVip({ x: { expr: '$map([$call.caller.name], $eval)' } })), /function \$eval is not allowed/);
    assert.match(compileError(withVip({ x: { expr: '($e := $eval; $e("1"))' } })), /function \$eval is not allowed/);
  });

  it('reports a syntax error with its position', () => {
    assert.equal(compileError(withVip({ name: { expr: "first_name & ' ' &" } })), `${at}.fields.name.expr: syntax error at position 18: Unexpected end of expression`);
  });

  it('reports an unknown table and a table name that is not a quoted string', () => {
    assert.equal(compileError(withVip({ t: { expr: "$table('tier', tier)" } })), `${at}.fields.t.expr: unknown table 'tier'; known tables: tiers`);
    assert.match(compileError(withVip({ t: { expr: '$table(name, tier)' } })), /fields\.t\.expr: \$table needs the table name as a quoted string/);
  });

  it('reports missing required keys', () => {
    assert.equal(compileError({}), 'config.yaml: mapping.templates: must be a list with at least one template');
    assert.equal(compileError({ templates: [] }), 'config.yaml: mapping.templates: must be a list with at least one template');
    assert.match(compileError({ templates: [{ fields: { a: 'b' } }] }), /^config\.yaml: mapping\.templates\[0\]\.name: must be a name/);
    assert.equal(compileError(withVip(undefined)), `${at}.fields: must be a map of field name to field (at least one)`);
    assert.equal(compileError(withVip({})), `${at}.fields: must be a map of field name to field (at least one)`);
    assert.equal(compileError(null), 'config.yaml: mapping: must be a map with templates (and optionally tables, skills, default_template, ...)');
  });

  it('reports a default template that does not exist', () => {
    assert.equal(
      compileError({ default_template: 'fallback', templates: [{ name: 'vip', fields: { a: 'b' } }] }),
      "config.yaml: mapping.default_template: no template is named 'fallback'; templates: vip",
    );
  });

  it('reports a duplicate template name', () => {
    assert.equal(compileError({ templates: [{ name: 'default', fields: { a: 'b' } }, { name: 'default', fields: { a: 'b' } }] }), "config.yaml: mapping.templates[1] (default).name: duplicate template name 'default'");
  });

  it('reports unknown keys, naming the expected ones', () => {
    assert.equal(compileError(withVip({ ssn: { path: 'ssn', hide_form: ['agent'] } })), `${at}.fields.ssn.hide_form: unknown key; expected one of path, when, default, limit, mask, mask_for, hide_from`);
    assert.match(compileError(withVip({ a: 'b' }, { lable: 'x' })), /templates\[1\] \(vip\)\.lable: unknown key; expected one of name, label, match, fields, links/);
    assert.match(compileError({ templates: [{ name: 'default', fields: { a: 'b' } }], table: {} }), /^config\.yaml: mapping\.table: unknown key/);
    assert.match(compileError(withVip({ g: { group: { a: 'b' }, mask: 'all' } })), /fields\.g\.mask: unknown key; expected one of group, when, hide_from/);
  });

  it('reports a field that is no kind or two kinds', () => {
    assert.equal(compileError(withVip({ a: { default: 1 } })), `${at}.fields.a: needs one of path, value, expr, group, list`);
    assert.equal(compileError(withVip({ a: { path: 'x', expr: 'y' } })), `${at}.fields.a: has both path and expr; a field is exactly one kind`);
    assert.match(compileError(withVip({ a: 42 })), /fields\.a: must be a record path \(text\) or a map/);
  });

  it('reports a bad record path', () => {
    assert.equal(compileError(withVip({ a: 'address..city' })), `${at}.fields.a: bad record path "address..city": empty name at position 9`);
    assert.match(compileError(withVip({ a: { path: 'orders[x]' } })), /fields\.a\.path: bad record path "orders\[x\]": bad index/);
    assert.match(compileError(withVip({ a: { list: 'Account Name' } })), /fields\.a\.list: bad record path/);
  });

  it('reports bad masking options', () => {
    assert.equal(compileError(withVip({ a: { path: 'card', mask: 'last3' } })), `${at}.fields.a.mask: must be one of all, last4, last2, first1, email`);
    assert.equal(compileError(withVip({ a: { path: 'card', mask_for: ['agent'] } })), `${at}.fields.a.mask_for: needs mask: (which mask those roles see)`);
    assert.equal(compileError(withVip({ a: { path: 'card', hide_from: 'agent' } })), `${at}.fields.a.hide_from: must be a list of strings`);
  });

  it('reports a limit outside 1..max_list_items', () => {
    assert.equal(compileError(withVip({ a: { list: 'orders', limit: 0 } })), `${at}.fields.a.limit: must be a whole number from 1 to 50 (mapping.max_list_items)`);
    assert.match(compileError(withVip({ a: { expr: 'orders', limit: 11 } }, {}, { max_list_items: 10 })), /limit: must be a whole number from 1 to 10/);
  });

  it('reports groups and lists nested too deep', () => {
    const deep: FieldsConfig = { a: { group: { b: { group: { c: { list: 'x' } } } } } };
    assert.equal(compileError(withVip(deep)), `${at}.fields.a.group.b.group.c: groups and lists nest at most 3 levels deep`);
  });

  it('reports a bad field name', () => {
    assert.match(compileError(withVip({ 'first name': 'first_name' })), /fields\["first name"\]: field name must match/);
    assert.match(compileError(withVip({ constructor: 'first_name' })), /fields\.constructor: field name must match/);
  });

  it('reports bad template selection rules', () => {
    assert.equal(compileError(withVip({ a: 'b' }, { match: { skills: ['biling'] } })), `${at}.match.skills[0]: unknown skill 'biling'; known skills: billing`);
    assert.equal(compileError(withVip({ a: 'b' }, { match: {} })), `${at}.match: is empty; give at least one of queues, skills, roles, dids, directions`);
    assert.equal(compileError(withVip({ a: 'b' }, { match: { directions: ['in'] } })), `${at}.match.directions[0]: must be one of inbound, outbound, internal`);
    assert.match(compileError(withVip({ a: 'b' }, { match: { queue: ['x'] } })), /match\.queue: unknown key/);
  });

  it('reports links that could be turned into something other than a web or phone link', () => {
    assert.match(compileError(withVip({ a: 'b' }, { links: { crm: 'javascript:alert({id})' } })), /links\.crm: must start with http:, https:/);
    assert.match(compileError(withVip({ a: 'b' }, { links: { crm: '{url}' } })), /links\.crm: must start with http:/);
    assert.equal(compileError(withVip({ a: 'b' }, { links: { crm: 'https://crm/{id' } })), `${at}.links.crm: unclosed "{" at position 13`);
    assert.match(compileError(withVip({ a: 'b' }, { links: { crm: 'https://crm/{a..b}' } })), /links\.crm: placeholder \{a\.\.b\}: empty name/);
  });

  it('refuses a picker label that would show a masked or hidden field', () => {
    assert.equal(
      compileError(withVip({ ssn: { path: 'ssn', hide_from: ['agent'] } }, { label: '{name} {ssn}' })),
      `${at}.label: {ssn} is a masked or hidden field; a label is shown to every role`,
    );
  });

  it('reports bad tables, skills and limits', () => {
    assert.equal(compileError(withVip({ a: 'b' }, {}, { tables: { tiers: { G: { name: 'Gold' } } } })), 'config.yaml: mapping.tables.tiers.G: must be text, a number or true/false');
    assert.equal(compileError(withVip({ a: 'b' }, {}, { skills: { billing: 'billing' } })), 'config.yaml: mapping.skills.billing: must be a list of strings');
    assert.equal(compileError(withVip({ a: 'b' }, {}, { max_list_items: 0 })), 'config.yaml: mapping.max_list_items: must be a whole number from 1 to 1000');
    assert.equal(compileError(withVip({ a: 'b' }, {}, { expression_timeout_ms: '5s' })), 'config.yaml: mapping.expression_timeout_ms: must be a whole number from 1 to 10000');
  });

  it('reports a literal that is not plain data', () => {
    assert.match(compileError(withVip({ a: { value: () => 1 } })), /fields\.a\.value: must be plain data/);
  });
});

describe('mapping: well-formed configs compile', () => {
  it('compiles a template in every allowed shape without error', () => {
    const template: TemplateConfig = {
      name: 'all',
      fields: { a: 'x', b: { path: 'y' }, c: { value: null }, d: { expr: '1' }, e: { group: { f: 'g' } }, h: { list: 'l' }, i: { list: { expr: 'l' } } },
    };
    assert.deepEqual(compileMapping({ default_template: 'all', templates: [template] }, { file: 'config.yaml' }).templates, ['all']);
  });
});
