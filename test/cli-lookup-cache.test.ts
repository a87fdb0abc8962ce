import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { runCacheClear } from '../src/cli/cache-command.js';
import { runLookup } from '../src/cli/lookup-command.js';
import { Daemon } from '../src/daemon.js';
import { loadConfig } from '../src/config/load-config.js';
import { silentLogger } from '../src/model/logger.js';
import { inboundAnsweredCall, scenarioBytes } from '../src/sim/ami-scenarios.js';
import { AmiSimulator } from '../src/sim/ami-simulator.js';
import { createSampleCrm, SAMPLE_LOOKUP_QUERY } from '../src/sim/sample-crm.js';
import { TestAgentClient } from './helpers/ws-client.js';

function configYaml(amiPort: number, hubPort: number): string {
  return `log: { level: silent }
pbx:
  - { id: main, type: asterisk, host: 127.0.0.1, port: ${amiPort}, username: callpop, secret: cli-secret }
connectors:
  - name: crm
    type: sql
    driver: sqlite
    file: crm.sqlite
    lookup_query: "${SAMPLE_LOOKUP_QUERY}"
mapping:
  templates:
    - name: vip
      match: { queues: [vip] }
      fields:
        greeting: { expr: "'Dear ' & first_name" }
    - name: default
      label: "{first_name} {last_name}"
      fields:
        name: { expr: "first_name & ' ' & last_name" }
        company: company
hub:
  port: ${hubPort}
  tokens:
    - { token: cli-agent-token, agents: ["*"] }
    - { token: cli-admin-token, agents: ["*"], admin: true }
store: { file: ":memory:" }
`;
}

describe('callpop lookup', () => {
  let dir: string;
  let file: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'callpop-lookup-'));
    createSampleCrm(join(dir, 'crm.sqlite'));
    file = join(dir, 'callpop.yaml');
    await writeFile(file, configYaml(5038, 0));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('prints the pop an agent would get for a number, in any spelling the PBX may use', async () => {
    let printed = '';
    const code = await runLookup(file, '030 123456', { agent: '1001' }, (text) => (printed = text));
    assert.equal(code, 0);
    const pop = JSON.parse(printed) as Record<string, unknown>;
    assert.equal(pop.type, 'pop');
    assert.equal(pop.template, 'default');
    assert.deepEqual(pop.fields, { name: 'Erika Mustermann', company: 'Mustermann GmbH' });
    assert.deepEqual(pop.matches, [{ source: 'crm', id: 'C-1001', label: 'Erika Mustermann' }]);
  });

  it('renders with the template named by --template', async () => {
    let printed = '';
    await runLookup(file, '+4930123456', { agent: '1001', template: 'vip' }, (text) => (printed = text));
    const pop = JSON.parse(printed) as Record<string, unknown>;
    assert.equal(pop.template, 'vip');
    assert.deepEqual(pop.fields, { greeting: 'Dear Erika' });
  });

  it('picks the template the queue selects, as the daemon would', async () => {
    let printed = '';
    await runLookup(file, '+4930123456', { agent: '1001', queue: 'vip' }, (text) => (printed = text));
    assert.equal((JSON.parse(printed) as { template: string }).template, 'vip');
  });

  it('names the templates when --template names none of them', async () => {
    await assert.rejects(runLookup(file, '+4930123456', { agent: '1001', template: 'nope' }, () => {}), /no template named 'nope' \(templates: vip, default\)/);
  });
});

describe('callpop cache clear', () => {
  let dir: string;
  let sim: AmiSimulator;
  let daemon: Daemon;
  let file: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'callpop-cache-'));
    createSampleCrm(join(dir, 'crm.sqlite'));
    sim = new AmiSimulator({ username: 'callpop', secret: 'cli-secret' });
    const amiPort = await sim.listen(0, '127.0.0.1');
    // Start on a free port, then write the config the CLI reads with that port in it.
    file = join(dir, 'callpop.yaml');
    await writeFile(file, configYaml(amiPort, 0));
    daemon = await Daemon.create(await loadConfig(file), { logger: silentLogger });
    const { port } = await daemon.start();
    await writeFile(file, configYaml(amiPort, port));
    await sim.waitForLogin(5000);
  });
  after(async () => {
    await daemon.stop();
    await sim.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function popFor(seq: number): Promise<Record<string, unknown>> {
    const agent = await TestAgentClient.subscribed(`ws://127.0.0.1:${daemon.hub.port}/ws`, 'cli-agent-token', ['1001']);
    sim.send(scenarioBytes(inboundAnsweredCall({ callerNumber: '+4930123456', callerName: 'Erika', agent: '1001', seq })));
    const pop = await agent.next((m) => m.type === 'pop');
    agent.close();
    return pop.fields as Record<string, unknown>;
  }

  it('makes the next pop read the CRM again for that number', async () => {
    assert.equal((await popFor(1)).company, 'Mustermann GmbH');
    const db = new Database(join(dir, 'crm.sqlite'));
    db.prepare("UPDATE customers SET company = 'Mustermann AG' WHERE id = 'C-1001'").run();
    db.close();
    assert.equal((await popFor(2)).company, 'Mustermann GmbH', 'served from the cache before the clear');

    const lines: string[] = [];
    assert.equal(await runCacheClear(file, '+4930123456', (l) => lines.push(l)), 0);
    assert.deepEqual(lines, ['cleared cached lookups for +4930123456']);
    assert.equal((await popFor(3)).company, 'Mustermann AG');
  });

  it('refuses the HTTP endpoint without an admin token', async () => {
    const url = `http://127.0.0.1:${daemon.hub.port}/api/cache/clear`;
    assert.equal((await fetch(url, { method: 'POST' })).status, 401);
    assert.equal((await fetch(url, { method: 'POST', headers: { authorization: 'Bearer cli-agent-token' } })).status, 401);
    assert.equal((await fetch(url, { method: 'POST', headers: { authorization: 'Bearer cli-admin-token' } })).status, 200);
  });
});
