import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { runCheck } from '../src/cli/check-command.js';
import { inboundAnsweredCall, scenarioBytes } from '../src/sim/ami-scenarios.js';
import { AmiSimulator } from '../src/sim/ami-simulator.js';
import { createSampleCrm } from '../src/sim/sample-crm.js';
import { DaemonHarness, eventually } from './helpers/daemon-harness.js';
import { assertProtocol } from './helpers/protocol.js';
import type { Received } from './helpers/ws-client.js';

const FIXTURE = join(process.cwd(), 'test/fixtures/asterisk/01-inbound-answered.ami');
const SECRET = 'ami-secret-for-tests';


function asteriskPbx(port: number, secret = SECRET): Record<string, unknown> {
  return { id: 'pbx-a', type: 'asterisk', host: '127.0.0.1', port, username: 'callpop', secret, reconnect: { initial_ms: 50, max_ms: 200 } };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('end to end: an Asterisk call pops on the agent\'s WebSocket', () => {
  let sim: AmiSimulator;
  let harness: DaemonHarness;

  beforeEach(async () => {
    sim = new AmiSimulator({ username: 'callpop', secret: SECRET });
    const port = await sim.listen(0, '127.0.0.1');
    harness = await DaemonHarness.start({ pbx: asteriskPbx(port) });
    await sim.waitForLogin(5000);
  });
  afterEach(async () => {
    await harness.stop();
    await sim.close();
  });

  it('pops agent 1001 once with the mapped customer, then answered, then ended (real capture 01)', async () => {
    const agent = await harness.agent(['1001']);
    await sim.replayCapture(FIXTURE);
    await agent.next((m) => m.type === 'call' && m.state === 'ended');

    const calls = agent.messages.filter((m) => m.type === 'pop' || m.type === 'call');
    assert.deepEqual(calls.map((m) => (m.type === 'pop' ? 'pop' : m.state)), ['pop', 'answered', 'ended']);
    const pop = calls[0]!;
    assert.equal(pop.agent, '1001');
    assert.equal(pop.pbx, 'pbx-a');
    assert.deepEqual(pop.caller, { number: '+4930123456', name: 'Erika Mustermann' });
    assert.deepEqual(pop.fields, { name: 'Erika', last_name: 'Mustermann', company: 'Mustermann GmbH', account_id: 'C-1001' });
    assert.equal(pop.anonymous, false);
    assert.equal(new Set(calls.map((m) => m.callId)).size, 1, 'every message names the same call');
    for (const message of agent.messages) assertProtocol(message);
    agent.close();
  });

  it('stores the finished call and writes it back to the CRM', async () => {
    await sim.replayCapture(FIXTURE);
    const row = await eventually(() => harness.crmCallLog()[0], 15_000, 'the call in the CRM call_log');
    assert.equal(row.number, '+4930123456');
    assert.equal(row.agent, '1001');
    assert.equal(row.outcome, 'answered');
    assert.equal(row.customer_id, 'C-1001');
    assert.equal(harness.daemon.store.recentCalls(5).length, 1);
  });

  it('pops an unknown number with the caller as the PBX gave it and no customer', async () => {
    const agent = await harness.agent(['1001']);
    sim.send(scenarioBytes(inboundAnsweredCall({ callerNumber: '+4917699999999', callerName: 'Stranger', agent: '1001', seq: 7 })));
    const pop = await agent.next((m) => m.type === 'pop');
    assert.deepEqual(pop.caller, { number: '+4917699999999', name: 'Stranger' });
    assert.deepEqual(pop.matches, []);
    assert.deepEqual(pop.fields, {});
    agent.close();
  });

  it('looks the caller up as soon as the trunk channel appears, before any agent rings (prefetch)', async () => {
    const agent = await harness.agent(['1001']);
    const frames = inboundAnsweredCall({ callerNumber: '+4940555777', callerName: 'Max', agent: '1001', seq: 11 });
    const [first, ...rest] = frames;
    assert.match(first!.data, /Event: Newchannel[\s\S]*PJSIP\/trunk/, 'the call starts with the trunk channel');
    sim.send(first!.data);
    // Give the prefetch (a local SQLite read, well under a millisecond) time to finish, then
    // change the CRM: a pop made from a lookup at ringing time would show the change.
    await new Promise((r) => setTimeout(r, 500));
    const db = new Database(join(harness.dir, 'crm.sqlite'));
    db.prepare("UPDATE customers SET company = 'changed after prefetch' WHERE id = 'C-1002'").run();
    db.close();
    sim.send(rest.map((f) => f.data).join(''));
    const pop = await agent.next((m) => m.type === 'pop');
    assert.equal((pop.fields as { company: string }).company, 'Mustermann GmbH', 'the pop used the lookup made before the phone rang');
    agent.close();
  });

  it('pops a withheld number clearly marked, without a CRM lookup', async () => {
    const agent = await harness.agent(['1001']);
    sim.send(scenarioBytes(inboundAnsweredCall({ callerNumber: null, callerName: null, agent: '1001', seq: 9 })));
    const pop = await agent.next((m) => m.type === 'pop');
    assert.equal(pop.anonymous, true);
    assert.deepEqual(pop.matches, []);
    const metrics = await (await fetch(`http://127.0.0.1:${harness.port}/metrics`)).text();
    assert.match(metrics, /callpop_pops_total\{result="anonymous"\} 1/);
    agent.close();
  });

  it('counts link statistics and what the hub refused on /metrics', async () => {
    const metrics = await (await fetch(`http://127.0.0.1:${harness.port}/metrics`)).text();
    assert.match(metrics, /callpop_pbx_connects_total\{pbx="[^"]+"\} [1-9]/);
    assert.match(metrics, /callpop_pbx_received_bytes_total\{pbx="[^"]+"\} [1-9]/);
    assert.match(metrics, /callpop_hub_dropped_total\{cause="badMessages"\} \d+/);
    assert.match(metrics, /callpop_tracker_evicted_legs_total 0/);
    assert.match(metrics, /callpop_pops_kept \d+/);
  });

  it('treats a caller number like \' OR 1=1 -- as data: it matches no customer', async () => {
    const agent = await harness.agent(['1001']);
    sim.send(scenarioBytes(inboundAnsweredCall({ callerNumber: "' OR 1=1 --", callerName: "Robert'); DROP TABLE customers;--", agent: '1001', seq: 8 })));
    const pop = await agent.next((m) => m.type === 'pop');
    assert.deepEqual(pop.matches, [], 'a concatenated query would have matched every customer');
    assert.equal((pop.caller as { number: string }).number, "' OR 1=1 --");
    // The table is still there: the next known caller is still found.
    await sim.replayCapture(FIXTURE);
    const next = await agent.next((m) => m.type === 'pop' && (m.caller as { number: string }).number === '+4930123456');
    assert.equal((next.fields as { account_id: string }).account_id, 'C-1001');
    agent.close();
  });

  it('shows the best of several customers on a shared line, and re-renders with the one the agent picks', async () => {
    const db = new Database(join(harness.dir, 'crm.sqlite'));
    db.prepare("INSERT INTO customers VALUES ('C-2001', 'Lena', 'Mustermann', 'Mustermann GmbH', '+4930123456', 'lena@mustermann.example', 'Gold', 'Berlin', '')").run();
    db.close();
    const agent = await harness.agent(['1001']);
    await sim.replayCapture(FIXTURE);
    const pop = await agent.next((m) => m.type === 'pop');
    const matches = pop.matches as { id: string }[];
    assert.deepEqual(matches.map((m) => m.id).sort(), ['C-1001', 'C-2001']);
    assert.equal(pop.selected, 0);
    assert.equal((pop.fields as { account_id: string }).account_id, matches[0]!.id);

    agent.send({ type: 'pick', pbx: pop.pbx, callId: pop.callId, agent: '1001', index: 1 });
    const update = await agent.next((m) => m.type === 'update');
    assert.equal(update.selected, 1);
    assert.equal((update.fields as { account_id: string }).account_id, matches[1]!.id);
    assertProtocol(update);

    agent.send({ type: 'pick', pbx: pop.pbx, callId: pop.callId, agent: '1001', index: 5 });
    const error = await agent.next((m) => m.type === 'error');
    assert.match(String(error.message), /index 5 does not exist/);
    agent.close();

    const logged = await eventually(() => harness.crmCallLog()[0], 15_000, 'the call in the CRM call_log');
    assert.equal(logged.customer_id, matches[1]!.id, 'the call is logged against the customer the agent picked');
  });

  it('forgets a pop with a single match once its call has ended (nothing left to pick)', async () => {
    const agent = await harness.agent(['1001']);
    await sim.replayCapture(FIXTURE);
    const pop = await agent.next((m) => m.type === 'pop');
    assert.equal((pop.matches as unknown[]).length, 1);
    await agent.next((m) => m.type === 'call' && m.state === 'ended');
    // The release waits for the lookup (already settled) after the ended: poll the refusal.
    const refused = await eventually(
      async () => {
        agent.send({ type: 'pick', pbx: pop.pbx, callId: pop.callId, agent: '1001', index: 0 });
        const reply = await agent.next((m) => m.type === 'error' || m.type === 'update');
        return reply.type === 'error' ? reply : undefined;
      },
      5000,
      'the pick to be refused',
    );
    assert.match(String(refused.message), /no pop to pick from .*fewer than two matches/);
    agent.close();
  });

  it('survives a malformed AMI frame and still pops the next call', async () => {
    const agent = await harness.agent(['1001']);
    sim.send(Buffer.from('this is not AMI\r\n\u0000\u00ff garbage: \r\nEvent\r\n\r\n' + 'X'.repeat(200_000) + '\r\n\r\n'));
    await sim.replayCapture(FIXTURE);
    const pop = await agent.next((m) => m.type === 'pop');
    assert.deepEqual(pop.caller, { number: '+4930123456', name: 'Erika Mustermann' });
    agent.close();
  });
});

describe('end to end: the daemon survives a PBX it cannot reach', () => {
  it('starts, reports the PBX down on /healthz, and connects once the PBX comes up', async () => {
    const port = await freePort();
    const harness = await DaemonHarness.start({ pbx: asteriskPbx(port) });
    const sim = new AmiSimulator({ username: 'callpop', secret: SECRET });
    try {
      const down = await fetch(`http://127.0.0.1:${harness.port}/healthz`);
      assert.equal(down.status, 503);
      const body = (await down.json()) as { pbx: { state: string }[] };
      assert.notEqual(body.pbx[0]?.state, 'connected');

      await sim.listen(port, '127.0.0.1');
      await sim.waitForLogin(10_000);
      const up = await eventually(async () => (await fetch(`http://127.0.0.1:${harness.port}/healthz`)).status === 200, 10_000, 'healthz 200');
      assert.ok(up);
    } finally {
      await harness.stop();
      await sim.close();
    }
  });

  it('keeps running with a wrong AMI password and says so in /healthz', async () => {
    const sim = new AmiSimulator({ username: 'callpop', secret: SECRET });
    const port = await sim.listen(0, '127.0.0.1');
    const harness = await DaemonHarness.start({ pbx: asteriskPbx(port, 'wrong-secret') });
    try {
      const status = await eventually(
        async () => {
          const body = (await (await fetch(`http://127.0.0.1:${harness.port}/healthz`)).json()) as { pbx: { state: string; reason?: string }[] };
          return body.pbx[0]?.state === 'auth-failed' ? body.pbx[0] : undefined;
        },
        10_000,
        'auth-failed status',
      );
      const resolved = status;
      assert.match(resolved.reason ?? '', /auth/i);
      assert.doesNotMatch(JSON.stringify(resolved), /wrong-secret/);
    } finally {
      await harness.stop();
      await sim.close();
    }
  });
});

describe('callpop check and run on the command line', () => {
  let dir: string;
  let sim: AmiSimulator;
  let simPort: number;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'callpop-cli-'));
    sim = new AmiSimulator({ username: 'callpop', secret: SECRET });
    simPort = await sim.listen(0, '127.0.0.1');
  });
  after(async () => {
    await sim.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function writeConfig(name: string, amiPort: number, secretVar = 'TEST_CHECK_SECRET'): Promise<string> {
    const file = join(dir, name);
    createSampleCrm(join(dir, `crm-${name}.sqlite`));
    await writeFile(
      file,
      `pbx:
  - id: main
    type: asterisk
    host: 127.0.0.1
    port: ${amiPort}
    username: callpop
    secret: \${env:${secretVar}}
connectors:
  - name: crm
    type: sql
    driver: sqlite
    file: crm-${name}.sqlite
    lookup_query: "SELECT 1 AS id WHERE :number = 'never'"
mapping:
  templates:
    - name: default
      fields: { id: id }
hub:
  tokens:
    - token: cli-test-token
      agents: ["*"]
`,
    );
    return file;
  }

  it('check reports every connection ok when the PBX and the CRM answer', async () => {
    process.env.TEST_CHECK_SECRET = SECRET;
    const lines: string[] = [];
    const code = await runCheck(await writeConfig('ok.yaml', simPort), 3000, (l) => lines.push(l));
    assert.equal(code, 0, lines.join('\n'));
    assert.ok(lines.some((l) => /^ok\s+pbx main/.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => /^ok\s+connector crm/.test(l)), lines.join('\n'));
  });

  it('check names an unreachable PBX with the reason', async () => {
    process.env.TEST_CHECK_SECRET = SECRET;
    const lines: string[] = [];
    const code = await runCheck(await writeConfig('down.yaml', await freePort()), 3000, (l) => lines.push(l));
    assert.equal(code, 1);
    const line = lines.find((l) => l.includes('pbx main')) ?? '';
    assert.match(line, /^FAILED/);
    assert.match(line, /127\.0\.0\.1:\d+/);
  });

  it('check reports a wrong AMI password without printing it', async () => {
    process.env.TEST_CHECK_SECRET = 'definitely-wrong';
    const lines: string[] = [];
    const code = await runCheck(await writeConfig('badpw.yaml', simPort), 3000, (l) => lines.push(l));
    assert.equal(code, 1);
    const line = lines.find((l) => l.includes('pbx main')) ?? '';
    assert.match(line, /^FAILED.*auth/i);
    assert.doesNotMatch(lines.join('\n'), /definitely-wrong/);
  });

  it('check names the SQLite file it cannot open', async () => {
    process.env.TEST_CHECK_SECRET = SECRET;
    const file = await writeConfig('nocrm.yaml', simPort);
    await rm(join(dir, 'crm-nocrm.yaml.sqlite'));
    const lines: string[] = [];
    assert.equal(await runCheck(file, 3000, (l) => lines.push(l)), 1);
    const line = lines.find((l) => l.includes('connector crm')) ?? '';
    assert.match(line, /^FAILED.*cannot open the database .*crm-nocrm\.yaml\.sqlite/);
  });

  it('run refuses to start on a bad config, naming the file and key path, exit code 2', async () => {
    const file = join(dir, 'bad.yaml');
    await writeFile(file, 'pbx:\n  - id: main\n    type: asterix\nconnectors: []\n');
    const run = promisify(execFile);
    const result = await run(process.execPath, ['bin/callpop', 'run', '-c', file]).then(
      () => ({ code: 0, stderr: '' }),
      (err: { code: number; stderr: string }) => ({ code: err.code, stderr: err.stderr }),
    );
    assert.equal(result.code, 2);
    assert.match(result.stderr, /bad\.yaml: pbx\[0\]\.type: must be one of asterisk, freeswitch/);
    assert.match(result.stderr, /bad\.yaml: connectors: .*fewer than 1|connectors: must NOT have fewer than 1 items/);
  });
});

describe('config reload (SIGHUP)', () => {
  let sim: AmiSimulator;
  let harness: DaemonHarness;
  let pbx: Record<string, unknown>;

  beforeEach(async () => {
    sim = new AmiSimulator({ username: 'callpop', secret: SECRET });
    pbx = asteriskPbx(await sim.listen(0, '127.0.0.1'));
    harness = await DaemonHarness.start({ pbx });
    await sim.waitForLogin(5000);
  });
  afterEach(async () => {
    await harness.stop();
    await sim.close();
  });

  it('applies a new mapping to the next pop without a restart', async () => {
    const next = await harness.config({ pbx, mapping: { templates: [{ name: 'default', fields: { customer: { expr: "first_name & ' ' & last_name" } } }] } });
    const result = await harness.daemon.reload(next);
    assert.deepEqual(result.needsRestart, []);
    const agent = await harness.agent(['1001']);
    await sim.replayCapture(FIXTURE);
    const pop = await agent.next((m) => m.type === 'pop');
    assert.deepEqual(pop.fields, { customer: 'Erika Mustermann' });
    agent.close();
  });

  it('keeps the running mapping when the new one does not compile, and says why', async () => {
    const bad = await harness.config({ pbx, mapping: { templates: [{ name: 'default', fields: { name: { expr: '$nosuchfunction(first_name)' } } }] } });
    await assert.rejects(harness.daemon.reload(bad), /nosuchfunction/);
    const agent = await harness.agent(['1001']);
    await sim.replayCapture(FIXTURE);
    const pop = await agent.next((m) => m.type === 'pop');
    assert.equal((pop.fields as { name: string }).name, 'Erika', 'the old mapping still renders');
    agent.close();
  });

  it('reports PBX changes as needing a restart instead of half-applying them', async () => {
    const moved = await harness.config({ pbx: { ...pbx, port: 1 } });
    const result = await harness.daemon.reload(moved);
    assert.deepEqual(result.needsRestart, ['pbx']);
    assert.equal(harness.daemon.config.pbx[0]?.port, pbx.port);
  });
});
