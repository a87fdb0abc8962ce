import Database from 'better-sqlite3';

/** A customer of the sample CRM. Numbers are stored in E.164, as most CRMs normalise them. */
export interface SampleCustomer {
  id: string;
  first_name: string;
  last_name: string;
  company: string;
  phone: string;
  email: string;
  tier: string;
  city: string;
  notes: string;
}

/** The callers of the real Asterisk/FreeSWITCH captures, plus a few more for the demo. */
export const sampleCustomers: readonly SampleCustomer[] = [
  { id: 'C-1001', first_name: 'Erika', last_name: 'Mustermann', company: 'Mustermann GmbH', phone: '+4930123456', email: 'erika@mustermann.example', tier: 'VIP', city: 'Berlin', notes: 'Prefers e-mail follow-up' },
  { id: 'C-1002', first_name: 'Max', last_name: 'Mustermann', company: 'Mustermann GmbH', phone: '+4940555777', email: 'max@mustermann.example', tier: 'Gold', city: 'Hamburg', notes: 'Open ticket #4711 (invoice)' },
  { id: 'C-1003', first_name: 'Petra', last_name: 'Schmidt', company: 'Schmidt & Söhne KG', phone: '+4989777888', email: 'petra@schmidt.example', tier: 'Silver', city: 'München', notes: '' },
  { id: 'C-1004', first_name: 'Hans', last_name: 'Huber', company: 'Huber Bau AG', phone: '+4989123456', email: 'hans@huber.example', tier: 'Gold', city: 'München', notes: 'Contract renewal in March' },
  { id: 'C-1005', first_name: 'Jürgen', last_name: 'Müller', company: 'Müller Logistik', phone: '+4940998877', email: 'jm@mueller.example', tier: 'Standard', city: 'Hamburg', notes: '' },
  { id: 'C-1006', first_name: 'Aylin', last_name: 'Demir', company: 'Demir Design', phone: '+4922112345678', email: 'aylin@demir.example', tier: 'VIP', city: 'Köln', notes: 'Speaks German, English, Turkish' },
];

/** Creates (or refreshes) the sample CRM schema and rows in an SQLite file. */
export function createSampleCrm(file: string, customers: readonly SampleCustomer[] = sampleCustomers): void {
  const db = new Database(file);
  try {
    db.exec(`
      CREATE TABLE IF NOT EXISTS customers (
        id TEXT PRIMARY KEY, first_name TEXT, last_name TEXT, company TEXT, phone TEXT NOT NULL,
        email TEXT, tier TEXT, city TEXT, notes TEXT
      );
      CREATE INDEX IF NOT EXISTS customers_phone ON customers (phone);
      CREATE TABLE IF NOT EXISTS call_log (
        call_id TEXT NOT NULL, pbx_id TEXT NOT NULL, number TEXT, agent TEXT, outcome TEXT NOT NULL,
        started_at INTEGER NOT NULL, ended_at INTEGER NOT NULL, customer_id TEXT,
        PRIMARY KEY (pbx_id, call_id)
      );
    `);
    const insert = db.prepare(`INSERT OR REPLACE INTO customers VALUES (:id, :first_name, :last_name, :company, :phone, :email, :tier, :city, :notes)`);
    db.transaction(() => {
      for (const customer of customers) insert.run(customer);
    })();
  } finally {
    db.close();
  }
}

export const SAMPLE_LOOKUP_QUERY = 'SELECT id, first_name, last_name, company, phone, email, tier, city, notes FROM customers WHERE phone = :number';
export const SAMPLE_LOG_CALL_QUERY =
  'INSERT OR IGNORE INTO call_log (call_id, pbx_id, number, agent, outcome, started_at, ended_at, customer_id) VALUES (:call_id, :pbx_id, :number, :agent, :outcome, :started_at, :ended_at, :customer_id)';
