import assert from 'node:assert/strict';
import { chromium, type Browser, type Page } from 'playwright-core';
import { eventually } from './helpers/daemon-harness.js';
import { CHILD_AGENT_TOKEN, DaemonSite, killStartedDaemons, type DaemonChild } from './helpers/daemon-child.js';
import { assertProtocol } from './helpers/protocol.js';
import { requireBinary } from './helpers/require-server.js';
import { AsteriskPbx, FreeswitchPbx, type PbxCall, type RestartPbx } from './helpers/restart-pbx.js';
import { TcpGate } from './helpers/tcp-gate.js';
import { TestAgentClient, type Received } from './helpers/ws-client.js';

/**
 * Issue 12: calls in progress survive a daemon restart. callpop runs as a real child process
 * (`node bin/callpop run`), is SIGKILLed or SIGTERMed by its PID and started again on the same
 * config, store file and hub port, while the PBX simulator in this process keeps its calls
 * going. The agent must see each call popped once, closed when it ends, and the store and the
 * CRM must get one record per call with its true start, answer and end.
 */

const ERIKA = { number: '+4930123456', name: 'Erika Mustermann' };
const MAX = { number: '+4940555777', name: 'Max Mustermann' };
/**
 * Recorded times are compared with the PBX's with this slack: the PBX gives times in whole
 * seconds in its resync lists (CoreShowChannel `Duration`, `created_epoch`), and AMI events
 * carry no time (callpop stamps them on receipt).
 */
const SLACK_MS = 1_200;
/** How long a call is known before the kill, so its true start cannot pass for the restart time. */
const KNOWN_BEFORE_KILL_MS = 1_500;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function near(actual: unknown, expected: number, what: string): void {
  assert.equal(typeof actual, 'number', `${what} is ${String(actual)}`);
  const delta = (actual as number) - expected;
  assert.ok(Math.abs(delta) <= SLACK_MS, `${what} is ${new Date(actual as number).toISOString()}, ${delta} ms from the true ${new Date(expected).toISOString()}`);
}

function popsOf(clients: TestAgentClient[], callId: string): Received[] {
  return clients.flatMap((c) => c.messages).filter((m) => m.type === 'pop' && m.callId === callId);
}

function livePopsOf(clients: TestAgentClient[], callId: string): Received[] {
  return popsOf(clients, callId).filter((m) => m.snapshot !== true);
}

function callState(client: TestAgentClient, call: PbxCall, state: string, timeoutMs = 10_000): Promise<Received> {
  return client.next((m) => m.type === 'call' && m.callId === call.callId && m.state === state, timeoutMs);
}

function assertAllProtocol(clients: TestAgentClient[]): void {
  for (const m of clients.flatMap((c) => c.messages)) {
    if (m.type === 'welcome' || m.type === 'pop' || m.type === 'update' || m.type === 'call') assertProtocol(m);
  }
}

/** One PBX simulator behind a gate, a site (config, store, CRM) and the daemon now running on it. */
class RestartRig {
  daemon: DaemonChild | null = null;
  readonly clients: TestAgentClient[] = [];
  private constructor(
    readonly pbx: RestartPbx,
    readonly gate: TcpGate,
    readonly site: DaemonSite,
  ) {}

  static async start(pbx: RestartPbx): Promise<RestartRig> {
    const entry = await pbx.listen();
    const gate = new TcpGate(entry['port'] as number);
    const site = await DaemonSite.create({ ...entry, port: await gate.listen() });
    const rig = new RestartRig(pbx, gate, site);
    await rig.startDaemon();
    return rig;
  }

  /** Starts callpop; with the gate open, waits until it has reached the PBX and asked for its resync. */
  async startDaemon(): Promise<void> {
    const before = this.pbx.resyncs();
    this.daemon = await this.site.start();
    await this.untilResynced(before);
  }

  /** Waits for a resync request after `before` requests (the gate must be open). */
  async untilResynced(before: number): Promise<void> {
    await eventually(() => this.pbx.connected() && this.pbx.resyncs() > before, 10_000, `a resync request from callpop (${this.pbx.name})`);
  }

  async stopDaemon(signal: 'SIGKILL' | 'SIGTERM'): Promise<void> {
    await this.daemon?.kill(signal);
    await eventually(() => !this.pbx.connected(), 5_000, 'the PBX to see callpop gone');
  }

  async agent(agents: string[]): Promise<TestAgentClient> {
    const client = await TestAgentClient.subscribed(this.site.wsUrl, CHILD_AGENT_TOKEN, agents);
    this.clients.push(client);
    return client;
  }

  /** The one store row and the one CRM row of a call, once both are there (fails on a second). */
  async recordOf(call: PbxCall): Promise<{ store: Record<string, unknown>; crm: Record<string, unknown> }> {
    const finished = (): Record<string, unknown>[] => this.site.storeCalls().filter((r) => r['call_id'] === call.callId && r['ended_at'] !== null);
    const crmRows = (): Record<string, unknown>[] => this.site.crmCallLog().filter((r) => r['call_id'] === call.callId);
    await eventually(() => finished().length > 0 && crmRows().length > 0, 10_000, `the record of ${call.callId} in the store and in the CRM call_log`);
    const store = finished();
    const crm = crmRows();
    assert.equal(store.length, 1, `one store record for ${call.callId}`);
    assert.equal(crm.length, 1, `one CRM call_log row for ${call.callId}`);
    return { store: store[0]!, crm: crm[0]! };
  }

  async stop(): Promise<void> {
    for (const c of this.clients) c.close();
    await killStartedDaemons();
    await this.gate.stop();
    await this.pbx.close();
    this.site.remove();
  }
}

/** Resolves once the agent has the call's pop and it is `KNOWN_BEFORE_KILL_MS` old. */
async function popped(agent: TestAgentClient, call: PbxCall): Promise<Received> {
  const pop = await agent.next((m) => m.type === 'pop' && m.callId === call.callId, 10_000);
  return pop;
}

async function knownLongEnough(call: PbxCall): Promise<void> {
  const wait = call.startedAt + KNOWN_BEFORE_KILL_MS - Date.now();
  if (wait > 0) await sleep(wait);
}

function assertTimes(record: { store: Record<string, unknown>; crm: Record<string, unknown> }, call: PbxCall): void {
  near(record.store['started_at'], call.startedAt, 'store started_at');
  near(record.crm['started_at'], call.startedAt, 'CRM started_at');
  if (call.answeredAt === null) assert.equal(record.store['answered_at'], null, 'store answered_at of an unanswered call');
  else near(record.store['answered_at'], call.answeredAt, 'store answered_at');
  if (call.endedAt !== null) {
    near(record.store['ended_at'], call.endedAt, 'store ended_at');
    near(record.crm['ended_at'], call.endedAt, 'CRM ended_at');
  }
}

/** SIGTERM must not invent an end: a call still up has no finished record once the daemon is gone. */
function assertNoInventedEnd(rig: RestartRig, call: PbxCall, signal: string): void {
  if (signal !== 'SIGTERM') return;
  const finished = rig.site.storeCalls().filter((r) => r['call_id'] === call.callId && r['ended_at'] !== null);
  assert.deepEqual(finished, [], 'SIGTERM recorded an end for a call that is still up');
  assert.deepEqual(rig.site.crmCallLog().filter((r) => r['call_id'] === call.callId), [], 'SIGTERM wrote back a call that is still up');
}

const pbxs: (() => RestartPbx)[] = [() => new AsteriskPbx(), () => new FreeswitchPbx('json')];
const signals = ['SIGKILL', 'SIGTERM'] as const;

describe('calls in progress survive a daemon restart (issue 12)', function () {
  this.timeout(30_000);
  let rig: RestartRig | null = null;

  afterEach(async () => {
    await rig?.stop();
    rig = null;
  });
  after(killStartedDaemons);

  for (const makePbx of pbxs) {
    for (const signal of signals) {
      const name = `${makePbx().name}, ${signal}`;

      it(`${name}: a call ringing across the restart is shown once, as a snapshot, and recorded with its true times`, async () => {
        rig = await RestartRig.start(makePbx());
        const before = await rig.agent(['1001']);
        const call = rig.pbx.ring('1001', ERIKA);
        const first = await popped(before, call);
        assert.notEqual(first.snapshot, true, 'a live pop is not a snapshot');
        await knownLongEnough(call);
        await rig.stopDaemon(signal);
        assertNoInventedEnd(rig, call, signal);

        await rig.startDaemon();
        const after = await rig.agent(['1001']);
        const snapshot = await after.next((m) => m.type === 'pop' && m.callId === call.callId, 5_000);
        assert.equal(snapshot.snapshot, true, 'the pop shown on subscribe after a restart is a snapshot');
        assert.equal(snapshot.state, 'ringing');
        assert.equal((snapshot.caller as { number: string }).number, ERIKA.number);
        assert.deepEqual(snapshot.fields, first.fields, 'the snapshot is the pop as last rendered');
        const welcome = after.messages.find((m) => m.type === 'welcome');
        assert.equal(welcome?.resumed, false);

        rig.pbx.answer(call);
        await callState(after, call, 'answered');
        rig.pbx.hangup(call);
        await callState(after, call, 'ended');
        assert.equal(popsOf([after], call.callId).length, 1, 'exactly one pop after the restart');
        assert.equal(livePopsOf([before, after], call.callId).length, 1, 'never popped again after the restart');
        const record = await rig.recordOf(call);
        assert.equal(record.store['outcome'], 'answered');
        assert.equal(record.store['end_estimated'], 0);
        assertTimes(record, call);
        assertAllProtocol(rig.clients);
      });

      it(`${name}: a call up across the restart that ends afterwards is ended at the agent and recorded with its true times`, async () => {
        rig = await RestartRig.start(makePbx());
        const before = await rig.agent(['1002']);
        const call = rig.pbx.ring('1002', MAX);
        await popped(before, call);
        rig.pbx.answer(call);
        await callState(before, call, 'answered');
        await knownLongEnough(call);
        await rig.stopDaemon(signal);
        assertNoInventedEnd(rig, call, signal);

        rig.gate.close();
        const resyncs = rig.pbx.resyncs();
        rig.daemon = await rig.site.start();
        const after = await rig.agent(['1002']);
        rig.gate.open();
        await rig.untilResynced(resyncs);
        const snapshot = await after.next((m) => m.type === 'pop' && m.callId === call.callId, 5_000);
        assert.equal(snapshot.snapshot, true);
        assert.equal(snapshot.state, 'answered', 'the snapshot shows the call as answered');

        await sleep(300); // the resync is joined with the stored state by now; the call goes on
        rig.pbx.hangup(call);
        await callState(after, call, 'ended');
        assert.equal(livePopsOf([before, after], call.callId).length, 1, 'never popped again after the restart');
        const record = await rig.recordOf(call);
        assert.equal(record.store['outcome'], 'answered');
        assert.equal(record.store['end_estimated'], 0);
        assertTimes(record, call);
        assertAllProtocol(rig.clients);
      });

      it(`${name}: a call that ends while callpop is down is ended at the agent after the restart, with an estimated end`, async () => {
        rig = await RestartRig.start(makePbx());
        const before = await rig.agent(['1003']);
        const call = rig.pbx.ring('1003', ERIKA);
        await popped(before, call);
        rig.pbx.answer(call);
        await callState(before, call, 'answered');
        await knownLongEnough(call);
        await rig.stopDaemon(signal);
        assertNoInventedEnd(rig, call, signal);
        rig.pbx.hangup(call); // nobody hears it: the PBX just no longer lists the call

        rig.gate.close();
        const resyncs = rig.pbx.resyncs();
        rig.daemon = await rig.site.start();
        const after = await rig.agent(['1003']);
        rig.gate.open();
        await rig.untilResynced(resyncs);
        await callState(after, call, 'ended');
        const record = await rig.recordOf(call);
        const resyncedAt = Date.now();
        assert.equal(record.store['end_estimated'], 1, 'the end was never reported by the PBX');
        assert.equal(record.store['outcome'], 'answered');
        near(record.store['started_at'], call.startedAt, 'store started_at');
        near(record.store['answered_at'], call.answeredAt!, 'store answered_at');
        const ended = record.store['ended_at'] as number;
        assert.ok(ended >= call.answeredAt! && ended <= resyncedAt, `estimated end ${new Date(ended).toISOString()} is not between the answer ${new Date(call.answeredAt!).toISOString()} and the resync ${new Date(resyncedAt).toISOString()}`);
        assert.equal(record.crm['ended_at'], ended, 'the CRM got the same end');
        assert.equal(livePopsOf([before, after], call.callId).length, 1, 'never popped again after the restart');
        assertAllProtocol(rig.clients);
      });

      it(`${name}: a call that ended just before the ${signal} is recorded exactly once`, async () => {
        rig = await RestartRig.start(makePbx());
        const before = await rig.agent(['1004']);
        const call = rig.pbx.ring('1004', MAX);
        await popped(before, call);
        rig.pbx.answer(call);
        await callState(before, call, 'answered');
        rig.pbx.hangup(call);
        await callState(before, call, 'ended');
        await rig.stopDaemon(signal); // well within 3.5 s of the end
        const durable = rig.site.storeCalls().filter((r) => r['call_id'] === call.callId && r['ended_at'] !== null);
        assert.equal(durable.length, 1, 'a finished call is in the store as soon as the agent saw it end, before any restart');

        await rig.startDaemon();
        const after = await rig.agent(['1004']);
        const record = await rig.recordOf(call);
        assert.equal(record.store['outcome'], 'answered');
        assert.equal(record.store['end_estimated'], 0);
        assertTimes(record, call);
        await sleep(300);
        assert.equal(popsOf([after], call.callId).length, 0, 'a finished call is not shown again');
        assert.equal(rig.site.storeCalls().filter((r) => r['call_id'] === call.callId).length, 1);
        assertAllProtocol(rig.clients);
      });

      it(`${name}: a call that begins while callpop is down and rings at the restart is popped once`, async () => {
        rig = await RestartRig.start(makePbx());
        const before = await rig.agent(['1005']);
        await rig.stopDaemon(signal);
        const call = rig.pbx.ring('1005', ERIKA);

        rig.gate.close();
        const resyncs = rig.pbx.resyncs();
        rig.daemon = await rig.site.start();
        const after = await rig.agent(['1005']);
        rig.gate.open();
        await rig.untilResynced(resyncs);
        const pop = await after.next((m) => m.type === 'pop' && m.callId === call.callId, 10_000);
        assert.equal(pop.agent, '1005');
        assert.equal((pop.caller as { number: string }).number, ERIKA.number);
        rig.pbx.answer(call);
        await callState(after, call, 'answered');
        rig.pbx.hangup(call);
        await callState(after, call, 'ended');
        assert.equal(popsOf([before, after], call.callId).length, 1, 'popped exactly once');
        const record = await rig.recordOf(call);
        assert.equal(record.store['outcome'], 'answered');
        assertTimes(record, call);
        assertAllProtocol(rig.clients);
      });
    }
  }

  it('Asterisk, SIGKILL in a burst of ~20 calls/s: every call recorded once in the store and the CRM, none popped twice', async function () {
    this.timeout(45_000);
    const pbx = new AsteriskPbx();
    rig = await RestartRig.start(pbx);
    const r = rig;
    const agents = Array.from({ length: 10 }, (_, i) => String(2001 + i));
    const before = await r.agent(agents);
    const calls: PbxCall[] = [];
    const lives: Promise<void>[] = [];
    let down = false;
    let restarted: () => void = () => {};
    const restartDone = new Promise<void>((resolve) => (restarted = resolve));
    // A call that begins while callpop is down does not end before it is back: callpop could
    // not know a call that began and ended entirely while it was down.
    const live = async (call: PbxCall, n: number, bornDown: boolean): Promise<void> => {
      await sleep(200 + (n % 7) * 100);
      if (bornDown) await restartDone;
      if (n % 5 === 4) {
        pbx.hangup(call); // abandoned while ringing
        return;
      }
      pbx.answer(call);
      await sleep(300 + (n % 5) * 150);
      if (bornDown) await restartDone;
      pbx.hangup(call);
    };
    const TOTAL = 80;
    const killAfter = 40;
    for (let n = 0; n < TOTAL; n++) {
      if (n === killAfter) {
        // Every call so far has reached callpop (its pop is out) before the kill.
        await eventually(() => calls.every((c) => c.state === 'gone' || popsOf([before], c.callId).length > 0), 10_000, 'a pop for every ringing call');
        await r.stopDaemon('SIGKILL');
        down = true;
        void r.startDaemon().then(() => {
          down = false;
          restarted();
        });
      }
      const call = pbx.ring(agents[n % agents.length]!, { number: `+49301000${String(n).padStart(4, '0')}`, name: `Burst ${n}` });
      calls.push(call);
      lives.push(live(call, n, down));
      await sleep(50);
    }
    await restartDone;
    const after = await r.agent(agents);
    await Promise.all(lives);

    await eventually(() => r.site.storeCalls().filter((row) => row['ended_at'] !== null).length >= TOTAL && r.site.crmCallLog().length >= TOTAL, 20_000, `${TOTAL} records`).catch(() => undefined);
    const store = r.site.storeCalls().filter((row) => row['ended_at'] !== null);
    const crm = r.site.crmCallLog();
    const missingStore = calls.filter((c) => store.filter((row) => row['call_id'] === c.callId).length !== 1).map((c) => c.callId);
    // A call that rang at the kill and was gone at the restart is recorded with outcome
    // `unknown` (answered or not, nobody can tell) and still written back: it happened.
    const missingCrm = calls
      .filter((c) => crm.filter((row) => row['call_id'] === c.callId).length !== 1)
      .map((c) => `${c.callId} (${String(store.find((row) => row['call_id'] === c.callId)?.['outcome'])})`);
    assert.deepEqual(missingStore, [], `calls without exactly one store record (of ${TOTAL})`);
    assert.deepEqual(missingCrm, [], `calls without exactly one CRM call_log row (of ${TOTAL})`);
    assert.equal(store.length, TOTAL);
    const twice = calls.filter((c) => livePopsOf([before, after], c.callId).length > 1).map((c) => c.callId);
    assert.deepEqual(twice, [], 'calls popped twice (live, not snapshot)');
  });
});

describe('the agent page shows the call in progress after a reload and a restart (issue 12)', function () {
  this.timeout(40_000);
  let browser: Browser;
  let page: Page;
  let rig: RestartRig | null = null;

  before(async function () {
    const executablePath = requireBinary(this, 'chromium', ['/usr/bin/chromium', '/usr/bin/chromium-browser']);
    browser = await chromium.launch({ executablePath, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
  });
  after(async () => {
    await page?.close();
    await rig?.stop();
    await browser?.close();
    await killStartedDaemons();
  });

  const card = (call: PbxCall, state: string): string => `.pop[data-call="${call.callId}"][data-state="${state}"]`;

  async function reload(): Promise<void> {
    await page.reload();
    await page.waitForFunction(() => document.getElementById('status')?.textContent?.startsWith('connected'), undefined, { timeout: 10_000 });
  }

  it('keeps the ringing card on reload, then the answered card on reload and across a SIGKILL restart', async () => {
    rig = await RestartRig.start(new AsteriskPbx());
    page = await browser.newPage();
    await page.goto(`${rig.site.pageUrl}?token=${CHILD_AGENT_TOKEN}&agents=1001`);
    await page.waitForFunction(() => document.getElementById('status')?.textContent?.startsWith('connected'), undefined, { timeout: 10_000 });
    const call = rig.pbx.ring('1001', ERIKA);
    await page.waitForSelector(card(call, 'ringing'), { timeout: 10_000 });

    await reload();
    await page.waitForSelector(card(call, 'ringing'), { timeout: 10_000 });
    assert.equal(await page.locator('.pop').count(), 1);
    assert.equal(await page.textContent(`.pop[data-call="${call.callId}"] .caller`), 'Erika');

    rig.pbx.answer(call);
    await page.waitForSelector(card(call, 'answered'), { timeout: 10_000 });
    await reload();
    await page.waitForSelector(card(call, 'answered'), { timeout: 10_000 });

    await rig.stopDaemon('SIGKILL');
    await rig.startDaemon();
    await reload();
    await page.waitForSelector(card(call, 'answered'), { timeout: 10_000 });
    assert.equal(await page.locator('.pop').count(), 1);
    assert.equal(await page.textContent(`.pop[data-call="${call.callId}"] .number`), ERIKA.number);

    rig.pbx.hangup(call);
    await page.waitForSelector(card(call, 'ended'), { timeout: 10_000 });
  });

  it('closes the card of a call that ended while the daemon was down, on a page that stays open and reconnects by itself', async () => {
    rig = await RestartRig.start(new AsteriskPbx());
    page = await browser.newPage();
    await page.goto(`${rig.site.pageUrl}?token=${CHILD_AGENT_TOKEN}&agents=1001`);
    await page.waitForSelector('#status[data-synced="1"]', { timeout: 10_000 });
    const call = rig.pbx.ring('1001', ERIKA);
    rig.pbx.answer(call);
    await page.waitForSelector(card(call, 'answered'), { timeout: 10_000 });

    await rig.stopDaemon('SIGKILL');
    rig.pbx.hangup(call);
    const resyncs = rig.pbx.resyncs();
    await rig.startDaemon();
    await rig.untilResynced(resyncs);
    // No reload: the page's own reconnect gets a new session, and the call is gone from the
    // restarted daemon's calls in progress, by a live `ended` or by the snapshot.
    await page.waitForSelector('#status[data-synced="2"]', { timeout: 20_000 });
    await page.waitForSelector(card(call, 'ended'), { timeout: 10_000 });
    assert.equal(await page.locator('.pop').count(), 1);
  });
});

