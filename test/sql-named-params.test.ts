import assert from 'node:assert/strict';
import { compileNamedSql } from '../src/connectors/sql/named-params.js';

describe('sql named parameters', function () {
  const q = 'SELECT * FROM c WHERE phone = :number OR alt = :number OR tail = :last_digits';

  it('keeps :name for sqlite, which binds by name', function () {
    assert.deepEqual(compileNamedSql(q, 'sqlite'), { text: q, names: ['number', 'last_digits'], positions: [] });
  });

  it('numbers each distinct name once for postgres', function () {
    const c = compileNamedSql(q, 'postgres');
    assert.equal(c.text, 'SELECT * FROM c WHERE phone = $1 OR alt = $1 OR tail = $2');
    assert.deepEqual(c.positions, ['number', 'last_digits']);
  });

  it('uses one ? per use for mysql', function () {
    const c = compileNamedSql(q, 'mysql');
    assert.equal(c.text, 'SELECT * FROM c WHERE phone = ? OR alt = ? OR tail = ?');
    assert.deepEqual(c.positions, ['number', 'number', 'last_digits']);
  });

  it('leaves postgres :: casts alone', function () {
    const c = compileNamedSql('SELECT :number::text, created::date FROM t', 'postgres');
    assert.equal(c.text, 'SELECT $1::text, created::date FROM t');
    assert.deepEqual(c.names, ['number']);
  });

  it('ignores colons in string literals, quoted identifiers and comments', function () {
    const sql = `SELECT ':a', "b:c", \`d:e\`, 'it''s :f' -- :g\n /* :h */ FROM t WHERE x = :real`;
    assert.deepEqual(compileNamedSql(sql, 'sqlite').names, ['real']);
    assert.deepEqual(compileNamedSql(sql, 'mysql').names, ['real']);
  });

  it('honours backslash escapes in mysql strings', function () {
    assert.deepEqual(compileNamedSql("SELECT 'a\\':b' , :real", 'mysql').names, ['real']);
  });

  it('treats # as a comment only for mysql', function () {
    assert.deepEqual(compileNamedSql('SELECT 1 # :hidden\n, :real', 'mysql').names, ['real']);
  });

  it('skips postgres dollar-quoted bodies', function () {
    assert.deepEqual(compileNamedSql('SELECT $tag$ :no $tag$, $$ :nope $$, :yes', 'postgres').names, ['yes']);
  });

  it('survives unterminated quotes and comments without inventing parameters', function () {
    for (const sql of ["SELECT ':a", 'SELECT /* :a', 'SELECT "x:a', 'SELECT :']) {
      assert.deepEqual(compileNamedSql(sql, 'postgres').names, []);
    }
  });

  it('does not treat a word:word or a time literal as a parameter', function () {
    assert.deepEqual(compileNamedSql("SELECT a:b, '10:30', x[1:2] FROM t", 'postgres').names, []);
  });
});
