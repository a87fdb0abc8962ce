import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { describeConnectorConformance } from '../src/connectors/conformance.js';
import type { Connector, ConnectorContext } from '../src/connectors/contract.js';
import { ConnectorRegistry } from '../src/connectors/registry.js';
import { compileNamedSql, type SqlDialect } from '../src/connectors/sql/named-params.js';
import { isCallpopError } from '../src/model/errors.js';
import type { Logger } from '../src/model/logger.js';
import { mariadbUnavailableReason, startMariadbServer } from './helpers/mariadb-server.js';
import { pgUnavailableReason, startPgServer } from './helpers/pg-server.js';
import { skipOrFail } from './helpers/require-binary.js';

/** One CRM schema and data set, created on each of the three databases. */
const SCHEMA = [
  `CREATE TABLE customers (id INTEGER PRIMARY KEY, first_name VARCHAR(100), last_name VARCHAR(100), company VARCHAR(100),
     phone VARCHAR(600), phone_digits VARCHAR(40), email VARCHAR(100), tier VARCHAR(20), city VARCHAR(100), notes TEXT)`,
  'CREATE INDEX customers_phone ON customers (phone)',
  `CREATE TABLE calls (call_id VARCHAR(64) PRIMARY KEY, customer_id VARCHAR(64), number VARCHAR(64), agent VARCHAR(32),
     outcome VARCHAR(16), started_at BIGINT, duration_s INTEGER)`,
];
const CUSTOMERS = [
  { id: 1, first_name: 'Ada', last_name: 'Lovelace', company: 'Analytical Engines', phone: '+4930123456', phone_digits: '4930123456', email: 'ada@example.com', tier: 'gold', city: 'Berlin', notes: 'prefers e-mail' },
  { id: 2, first_name: 'Grace', last_name: 'Hopper', company: 'Navy', phone: '040 555000', phone_digits: '40555000', email: 'grace@example.com', tier: 'silver', city: 'Hamburg', notes: null },
  { id: 3, first_name: 'Mallory', last_name: 'Hostile', company: null, phone: "' OR 1=1 --", phone_digits: '11', email: null, tier: null, city: null, notes: null },
  { id: 4, first_name: 'Alice', last_name: 'Home', company: null, phone: '+4989111222', phone_digits: '4989111222', email: 'alice@example.com', tier: null, city: 'Munich', notes: null },
  { id: 5, first_name: 'Bob', last_name: 'Home', company: null, phone: '+4989111222', phone_digits: '4989111222', email: 'bob@example.com', tier: null, city: 'Munich', notes: null },
];
const INSERT =
  'INSERT INTO customers (id, first_name, last_name, company, phone, phone_digits, email, tier, city, notes) VALUES (:id, :first_name, :last_name, :company, :phone, :phone_digits, :email, :tier, :city, :notes)';
const SELECT = 'SELECT id, first_name, last_name, company, phone, email, tier, city, notes FROM customers';

interface Database_ {
  dialect: SqlDialect;
  /** What goes into the connector block: `file` or `url`. */
  location: Record<string, string>;
  exec(sql: string, values?: Record<string, unknown>): Promise<unknown[]>;
  close(): Promise<void>;
}

interface DriverSetup {
  driver: SqlDialect;
  unavailable(): string | undefined;
  open(): Promise<Database_>;
  /** Dialect-specific SQL the tests need. */
  sql: { lastDigits: string; slow: string; binaryColumn: string; insertCallOnce: string };
}

const bind = (sql: string, dialect: SqlDialect, values: Record<string, unknown>): { text: string; list: unknown[] } => {
  const compiled = compileNamedSql(sql, dialect);
  return { text: compiled.text, list: compiled.positions.map((n) => values[n] ?? null) };
};

const DRIVERS: DriverSetup[] = [
  {
    driver: 'sqlite',
    unavailable: () => undefined,
    async open() {
      const dir = mkdtempSync(join(tmpdir(), 'callpop-sqlite-'));
      const file = join(dir, 'crm.sqlite');
      const db = new Database(file);
      return {
        dialect: 'sqlite',
        location: { file },
        async exec(sql, values) {
          const stmt = db.prepare(sql);
          if (!stmt.reader) {
            if (values) stmt.run(values);
            else stmt.run();
            return [];
          }
          return values ? stmt.all(values) : stmt.all();
        },
        async close() {
          db.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
    sql: {
      lastDigits: `${SELECT} WHERE substr(phone_digits, -6) = :last_digits`,
      slow: `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000000) SELECT count(*) AS id FROM n WHERE :number IS NOT NULL`,
      binaryColumn: `SELECT id, first_name, X'00ff' AS avatar FROM customers WHERE phone = :number`,
      insertCallOnce:
        'INSERT INTO calls (call_id, customer_id, number, agent, outcome, started_at, duration_s) VALUES (:call_id, :customer_id, :number, :agent, :outcome, :started_at, :duration_s) ON CONFLICT (call_id) DO NOTHING',
    },
  },
  {
    driver: 'postgres',
    unavailable: pgUnavailableReason,
    async open() {
      const server = await startPgServer();
      const client = new pg.Client({ connectionString: server.url });
      await client.connect();
      return {
        dialect: 'postgres',
        location: { url: server.url.replace('postgres@', 'postgres:s3cr3t-pass@') },
        async exec(sql, values) {
          const { text, list } = bind(sql, 'postgres', values ?? {});
          return (await client.query(text, list)).rows;
        },
        async close() {
          await client.end().catch(() => {});
          await server.stop();
        },
      };
    },
    sql: {
      lastDigits: `${SELECT} WHERE right(phone_digits, 6) = :last_digits`,
      slow: 'SELECT 1 AS id, pg_sleep(10)::text AS slept WHERE :number::text IS NOT NULL',
      binaryColumn: `SELECT id, first_name, '\\x00ff'::bytea AS avatar, now() AS seen_at, 9007199254740993::bigint AS big, '{"a":[1,true]}'::json AS extra FROM customers WHERE phone = :number`,
      insertCallOnce:
        'INSERT INTO calls (call_id, customer_id, number, agent, outcome, started_at, duration_s) VALUES (:call_id, :customer_id, :number, :agent, :outcome, :started_at, :duration_s) ON CONFLICT (call_id) DO NOTHING',
    },
  },
  {
    driver: 'mysql',
    unavailable: mariadbUnavailableReason,
    async open() {
      const server = await startMariadbServer();
      const conn = await mysql.createConnection({ uri: server.url });
      return {
        dialect: 'mysql',
        location: { url: server.url.replace('root@', 'root:s3cr3t-pass@') },
        async exec(sql, values) {
          const { text, list } = bind(sql, 'mysql', values ?? {});
          const [rows] = await conn.execute(text, list as (string | number | null)[]);
          return Array.isArray(rows) ? (rows as unknown[]) : [];
        },
        async close() {
          await conn.end().catch(() => {});
          await server.stop();
        },
      };
    },
    sql: {
      lastDigits: `${SELECT} WHERE RIGHT(phone_digits, 6) = :last_digits`,
      slow: 'SELECT 1 AS id, SLEEP(10) AS slept FROM DUAL WHERE :number IS NOT NULL',
      binaryColumn: `SELECT id, first_name, X'00ff' AS avatar, NOW() AS seen_at, CAST(9007199254740993 AS SIGNED) AS big FROM customers WHERE phone = :number`,
      insertCallOnce:
        'INSERT IGNORE INTO calls (call_id, customer_id, number, agent, outcome, started_at, duration_s) VALUES (:call_id, :customer_id, :number, :agent, :outcome, :started_at, :duration_s)',
    },
  },
];

interface LogLine {
  level: string;
  obj: object | string;
  msg?: string;
}

function capturingLogger(lines: LogLine[]): Logger {
  const at =
    (level: string) =>
    (obj: object | string, msg?: string): void => {
      lines.push(msg === undefined ? { level, obj } : { level, obj, msg });
    };
  const logger: Logger = {
    trace: at('trace'),
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: () => logger,
  };
  return logger;
}

const never = (): AbortSignal => new AbortController().signal;

for (const setup of DRIVERS) {
  describe(`sql connector on ${setup.driver}`, function () {
    this.timeout(60_000);
    let db: Database_ | undefined;
    const registry = new ConnectorRegistry();
    const opened: Connector[] = [];
    let logLines: LogLine[] = [];

    const ctx = (name = 'crm'): ConnectorContext => ({ name, logger: capturingLogger(logLines), baseDir: tmpdir() });
    const create = async (extra: Record<string, unknown> = {}, name = 'crm'): Promise<Connector> => {
      assert.ok(db);
      const block = { name, type: 'sql', driver: setup.driver, ...db.location, lookup_query: `${SELECT} WHERE phone = :number`, ...extra };
      return registry.create(block, ctx(name));
    };
    /** A connector closed after the current test. */
    const connect = async (extra: Record<string, unknown> = {}, name = 'crm'): Promise<Connector> => {
      const connector = await create(extra, name);
      opened.push(connector);
      return connector;
    };
    const query = (number: string, candidates = [number], more: object = {}) => ({ number, candidates, ...more });

    before(async function () {
      const reason = setup.unavailable();
      if (reason) skipOrFail(this, reason);
      db = await setup.open();
      for (const statement of SCHEMA) await db.exec(statement);
      for (const customer of CUSTOMERS) await db.exec(INSERT, customer);
    });

    afterEach(async function () {
      logLines = [];
      await Promise.all(opened.splice(0).map((c) => c.close().catch(() => {})));
    });

    after(async function () {
      await db?.close();
    });

    // The kit closes its connector itself after its tests.
    describeConnectorConformance(`sql (${setup.driver})`, async () => ({
      connector: await create(),
      knownNumber: '+4930123456',
      unknownNumber: '+4930999999',
    }));

    it('finds a customer by the first candidate that matches, in candidate order', async function () {
      const connector = await connect();
      const matches = await connector.lookup(query('040 555000', ['+4940555000', '040555000', '040 555000']), never());
      assert.equal(matches.length, 1);
      assert.equal(matches[0]?.record.first_name, 'Grace');
      assert.equal(matches[0]?.id, '2');
      assert.equal(matches[0]?.source, 'crm');
    });

    it("sends the caller number ' OR 1=1 -- only as a bound parameter", async function () {
      const connector = await connect({ lookup_query: `${SELECT} WHERE phone = :raw` });
      const matches = await connector.lookup(query("' OR 1=1 --", []), never());
      // Bound as data, the text finds only the row that stores exactly that text; spliced into
      // the SQL it would have matched every customer.
      assert.deepEqual(
        matches.map((m) => m.record.first_name),
        ['Mallory'],
      );
    });

    it('keeps a customers table intact after a number that tries to drop it', async function () {
      const connector = await connect({ lookup_query: `${SELECT} WHERE phone = :raw` });
      assert.deepEqual(await connector.lookup(query("'; DROP TABLE customers; --", []), never()), []);
      assert.equal((await db!.exec('SELECT id FROM customers')).length, CUSTOMERS.length);
    });

    it('returns several records for one number as a list', async function () {
      const connector = await connect({ lookup_query: `${SELECT} WHERE phone = :number ORDER BY id` });
      const matches = await connector.lookup(query('+4989111222'), never());
      assert.deepEqual(
        matches.map((m) => m.record.first_name),
        ['Alice', 'Bob'],
      );
    });

    it('keeps at most max_rows records and warns about the rest', async function () {
      const connector = await connect({ lookup_query: `${SELECT} WHERE phone = :number ORDER BY id`, max_rows: 1 });
      const matches = await connector.lookup(query('+4989111222'), never());
      assert.equal(matches.length, 1);
      assert.ok(logLines.some((l) => l.level === 'warn' && /max_rows/.test(l.msg ?? '')));
    });

    it('matches by the last digits for CRMs that store numbers differently', async function () {
      const connector = await connect({ lookup_query: setup.sql.lastDigits });
      const matches = await connector.lookup(query('+49 30 123456', [], { lastDigits: '123456' }), never());
      assert.deepEqual(
        matches.map((m) => m.record.first_name),
        ['Ada'],
      );
    });

    it('does not run a last-digits query when suffix matching is off', async function () {
      const connector = await connect({ lookup_query: setup.sql.lastDigits });
      assert.deepEqual(await connector.lookup(query('+4930123456'), never()), []);
    });

    it('enriches by a known field such as e-mail', async function () {
      const connector = await connect({ lookup_query: `${SELECT} WHERE email = :email` });
      const matches = await connector.lookup(query('+4930999999', [], { known: { email: 'grace@example.com' } }), never());
      assert.equal(matches[0]?.record.last_name, 'Hopper');
    });

    it('returns a miss without asking the database when the known field is missing', async function () {
      const connector = await connect({ lookup_query: `${SELECT} WHERE email = :email` });
      assert.deepEqual(await connector.lookup(query('+4930999999', [], { known: { name: 'x' } }), never()), []);
    });

    it('coerces or drops unexpected column types with a warning instead of crashing', async function () {
      const connector = await connect({ lookup_query: setup.sql.binaryColumn });
      const matches = await connector.lookup(query('+4930123456'), never());
      const record = matches[0]?.record;
      assert.ok(record);
      assert.equal(record.first_name, 'Ada');
      assert.equal('avatar' in record, false, 'a binary column is dropped');
      if ('seen_at' in record) assert.match(String(record.seen_at), /^\d{4}-\d\d-\d\dT/);
      if ('big' in record) assert.equal(String(record.big), '9007199254740993');
      if ('extra' in record) assert.deepEqual(record.extra, { a: [1, true] });
      assert.doesNotThrow(() => JSON.stringify(record));
      assert.ok(logLines.some((l) => l.level === 'warn' && /malformed row/.test(l.msg ?? '')));
    });

    it('reads history with parameters from the customer record', async function () {
      await db!.exec(
        'INSERT INTO calls (call_id, customer_id, number, agent, outcome, started_at, duration_s) VALUES (:c, :id, :n, :a, :o, :s, :d)',
        { c: 'hist-1', id: '1', n: '+4930123456', a: '1001', o: 'answered', s: 1_700_000_000_000, d: 42 },
      );
      const connector = await connect({ history_query: 'SELECT call_id, outcome, duration_s FROM calls WHERE customer_id = :id ORDER BY started_at DESC' });
      const [match] = await connector.lookup(query('+4930123456'), never());
      assert.ok(match && connector.history);
      const history = await connector.history(match, never());
      assert.deepEqual(
        history.map((h) => h.call_id),
        ['hist-1'],
      );
    });

    it('writes a finished call back once, however often it is delivered', async function () {
      const connector = await connect({ log_call_query: setup.sql.insertCallOnce });
      assert.ok(connector.logCall);
      const record = {
        callId: 'call-77',
        pbxId: 'pbx1',
        direction: 'inbound' as const,
        number: "' OR 1=1 --",
        name: null,
        agent: '1002',
        queue: null,
        startedAt: 1_700_000_000_000,
        answeredAt: 1_700_000_005_000,
        endedAt: 1_700_000_065_000,
        outcome: 'answered' as const,
        customer: { source: 'crm', id: '1' },
      };
      await connector.logCall(record, never());
      await connector.logCall(record, never());
      const rows = (await db!.exec("SELECT call_id, number, duration_s FROM calls WHERE call_id = 'call-77'")) as Record<string, unknown>[];
      assert.equal(rows.length, 1);
      assert.equal(rows[0]?.number, "' OR 1=1 --");
      assert.equal(Number(rows[0]?.duration_s), 60);
    });

    it('refuses a log_call_query with a parameter that does not exist', async function () {
      await assert.rejects(connect({ log_call_query: 'INSERT INTO calls (call_id) VALUES (:callid)' }), (err: unknown) =>
        isCallpopError(err, 'CALLPOP_CONNECTOR_CONFIG') && /:callid/.test(err.message),
      );
    });

    it('reports healthy with a detail that carries no password', async function () {
      const health = await (await connect()).health(never());
      assert.equal(health.ok, true);
      assert.match(health.detail, new RegExp(setup.driver));
      assert.doesNotMatch(health.detail, /s3cr3t/);
    });

    if (setup.driver === 'sqlite') {
      it('refuses to start when the SQLite file does not exist', async function () {
        await assert.rejects(connect({ file: join(tmpdir(), 'callpop-no-such-dir', 'crm.sqlite') }), (err: unknown) =>
          isCallpopError(err, 'CALLPOP_CONNECTOR_FAILED'),
        );
      });

      it('refuses to start when the lookup query is not valid SQL', async function () {
        await assert.rejects(connect({ lookup_query: 'SELEC id FROM customers WHERE phone = :number' }), (err: unknown) =>
          isCallpopError(err, 'CALLPOP_CONNECTOR_CONFIG') && /lookup_query/.test(err.message),
        );
      });

      it('rejects a lookup promptly when its signal is already aborted', async function () {
        const connector = await connect({ lookup_query: setup.sql.slow });
        const controller = new AbortController();
        controller.abort(new Error('gone'));
        await assert.rejects(connector.lookup(query('+4930123456'), controller.signal), /gone/);
      });
    } else {
      it('stops waiting for a slow query when aborted and frees the pool slot', async function () {
        const connector = await connect({ lookup_query: setup.sql.slow, pool: { max: 1 } });
        const controller = new AbortController();
        const slow = connector.lookup(query('+4930123456'), controller.signal);
        setTimeout(() => controller.abort(new Error('source timeout')), 100);
        await assert.rejects(slow, /source timeout/);
        // With one pooled connection, this only answers if the aborted one was given back.
        const health = await connector.health(AbortSignal.timeout(5000));
        assert.equal(health.ok, true, health.detail);
      });

      it('reports a down database as unhealthy, and fails lookups, without the password', async function () {
        const url = db!.location.url!.replace(/:(\d+)\//, ':1/');
        const connector = await connect({ url, connect_timeout_ms: 2000 });
        const health = await connector.health(never());
        assert.equal(health.ok, false);
        assert.doesNotMatch(health.detail, /s3cr3t/);
        await assert.rejects(connector.lookup(query('+4930123456'), never()), (err: unknown) =>
          isCallpopError(err, 'CALLPOP_CONNECTOR_FAILED') && !/s3cr3t/.test(err.message),
        );
      });

      it('fails a lookup with an invalid query as a connector error, not a crash', async function () {
        const connector = await connect({ lookup_query: 'SELECT id FROM no_such_table WHERE phone = :number' });
        await assert.rejects(connector.lookup(query('+4930123456'), never()), (err: unknown) =>
          isCallpopError(err, 'CALLPOP_CONNECTOR_FAILED') && /no_such_table/.test(err.message),
        );
      });
    }

    if (setup.driver === 'postgres') {
      it('treats :: casts, literals and comments as SQL, not parameters', async function () {
        const connector = await connect({
          lookup_query: `${SELECT} WHERE phone = :number::text AND notes IS DISTINCT FROM ':not_a_param' /* :nor_this */ -- :or_this\n AND 1 = 1`,
        });
        const matches = await connector.lookup(query('+4930123456'), never());
        assert.equal(matches[0]?.record.first_name, 'Ada');
      });
    }
  });
}
