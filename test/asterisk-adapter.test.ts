import assert from 'node:assert/strict';
import { join } from 'node:path';
import { CallTracker } from '../src/calls/call-tracker.js';
import type { CallEvent } from '../src/model/call-event.js';
import type { ActiveLeg } from '../src/model/leg-event.js';
import { silentLogger } from '../src/model/logger.js';
import type { AsteriskConfig } from '../src/pbx/asterisk/asterisk-config.js';
import { asteriskConfig } from '../src/sim/pbx-configs.js';
import { asteriskAdapter } from '../src/pbx/asterisk/index.js';
import type { EarlyCall, PbxAdapter } from '../src/pbx/pbx-adapter.js';
import { inboundAnsweredCall, scenarioBytes } from '../src/sim/ami-scenarios.js';
import { AmiSimulator } from '../src/sim/ami-simulator.js';

const FIXTURES = join(process.cwd(), 'test', 'fixtures', 'asterisk');
const SECRET = 'adapter-secret-123';

async function until(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** An adapter wired to a tracker the way the daemon does it. */
class Harness {
  readonly events: CallEvent[] = [];
  readonly early: EarlyCall[] = [];
  readonly resyncs: ActiveLeg[][] = [];
  readonly tracker: CallTracker;

  constructor(readonly adapters: PbxAdapter[]) {
    const byId = new Map(adapters.map((a) => [a.id, a]));
    this.tracker = new CallTracker({ agentForDevice: (pbx, device) => byId.get(pbx)?.agentFor(device) ?? null });
    for (const adapter of adapters) {
      adapter.on('leg', (leg) => this.events.push(...this.tracker.handle(leg)));
      adapter.on('resync', (legs) => {
        this.resyncs.push(legs);
        this.events.push(...this.tracker.resync(adapter.id, legs));
      });
      adapter.on('early', (e) => this.early.push(e));
    }
  }

  kinds(): string[] {
    return this.events.map((e) => `${e.pbxId}:${e.kind}:${e.agent.extension}`);
  }
}

function config(id: string, port: number, extra: Partial<Parameters<typeof asteriskConfig>[0]> = {}): AsteriskConfig {
  return asteriskConfig({
    id,
    host: '127.0.0.1',
    port,
    username: 'cti',
    secret: SECRET,
    reconnect: { initial_ms: 20, max_ms: 200 },
    timeouts: { ping_interval_ms: 0 },
    ...extra,
  });
}

describe('Asterisk adapter end to end against the AMI simulator', () => {
  const sims: AmiSimulator[] = [];
  const adapters: PbxAdapter[] = [];

  async function simulator(): Promise<AmiSimulator> {
    const sim = new AmiSimulator({ username: 'cti', secret: SECRET });
    await sim.listen(0, '127.0.0.1');
    sims.push(sim);
    return sim;
  }

  function adapter(cfg: AsteriskConfig): PbxAdapter {
    const a = asteriskAdapter.create(cfg, { logger: silentLogger });
    adapters.push(a);
    return a;
  }

  afterEach(async () => {
    for (const a of adapters.splice(0)) await a.stop();
    for (const s of sims.splice(0)) await s.close();
  });

  it('keeps the feed running when processing one event throws (no crash into the socket handler)', async () => {
    const sim = await simulator();
    const a = adapter(config('pbx1', sim.port));
    const rings: string[] = [];
    let thrown = false;
    a.on('leg', (leg) => {
      if (!thrown) {
        thrown = true;
        throw new Error('a bug downstream');
      }
      if (leg.type === 'leg-ringing') rings.push(leg.callId);
    });
    a.start();
    await sim.waitForLogin(5000);
    await sim.replayCapture(join(FIXTURES, '01-inbound-answered.ami'), { rewriteIds: true });
    await sim.replayCapture(join(FIXTURES, '01-inbound-answered.ami'), { rewriteIds: true });
    await until(() => rings.length === 1, 'the second call rings');
    assert.equal(thrown, true);
  });

  it('pops the agent from a replayed capture with the pbx id on every event', async () => {
    const sim = await simulator();
    const a = adapter(config('pbx-berlin', sim.port));
    const h = new Harness([a]);
    a.start();
    await sim.waitForLogin(5000);
    await until(() => h.resyncs.length === 1, 'resync after login');
    await sim.replayCapture(join(FIXTURES, '01-inbound-answered.ami'), { chunkSize: 700 });
    await until(() => h.events.length === 3, 'three call events');
    assert.deepEqual(h.kinds(), ['pbx-berlin:ringing:1001', 'pbx-berlin:answered:1001', 'pbx-berlin:ended:1001']);
    assert.deepEqual(h.events[0]?.caller, { number: '+4930123456', name: 'Erika Mustermann' });
    assert.equal(h.early[0]?.pbxId, 'pbx-berlin');
  });

  it('keeps two PBXs apart when both play the same call ids', async () => {
    const simA = await simulator();
    const simB = await simulator();
    const a = adapter(config('pbx-a', simA.port));
    const b = adapter(config('pbx-b', simB.port));
    const h = new Harness([a, b]);
    a.start();
    b.start();
    await Promise.all([simA.waitForLogin(5000), simB.waitForLogin(5000)]);
    await until(() => h.resyncs.length === 2, 'both resyncs');
    await simA.replayCapture(join(FIXTURES, '01-inbound-answered.ami'));
    await simB.replayCapture(join(FIXTURES, '02-inbound-abandoned.ami'));
    await until(() => h.events.length === 5, 'five call events');
    assert.deepEqual(h.kinds().filter((k) => k.startsWith('pbx-a:')), ['pbx-a:ringing:1001', 'pbx-a:answered:1001', 'pbx-a:ended:1001']);
    assert.deepEqual(h.kinds().filter((k) => k.startsWith('pbx-b:')), ['pbx-b:ringing:1002', 'pbx-b:missed:1002']);
  });

  it('gives no duplicate pop and no lost ended when AMI reconnects in the middle of a call', async () => {
    const sim = await simulator();
    const a = adapter(config('pbx1', sim.port));
    const h = new Harness([a]);
    a.start();
    await sim.waitForLogin(5000);
    await until(() => h.resyncs.length === 1, 'first resync');
    const frames = inboundAnsweredCall({ callerNumber: '+4930123456', callerName: 'Erika Mustermann', agent: '1001', seq: 7 });
    const last = frames.at(-1);
    assert.ok(last);
    sim.send(scenarioBytes(frames.slice(0, -1)));
    await until(() => h.events.length === 2, 'ringing and answered');
    // Asterisk still has the call up when callpop comes back.
    sim.setActiveChannels([
      { Channel: 'PJSIP/trunk-0000000e', Uniqueid: '1795371082.0', Linkedid: '1795371082.0', ChannelStateDesc: 'Up', CallerIDNum: '+4930123456', CallerIDName: 'Erika Mustermann', ConnectedLineNum: '1001', ConnectedLineName: 'Agent 1001' },
      { Channel: 'PJSIP/1001-0000000f', Uniqueid: '1795371082.1', Linkedid: '1795371082.0', ChannelStateDesc: 'Up', CallerIDNum: '1001', CallerIDName: 'Agent 1001', ConnectedLineNum: '+4930123456', ConnectedLineName: 'Erika Mustermann' },
    ]);
    sim.dropClients();
    await sim.waitForLogin(5000, 2);
    await until(() => h.resyncs.length === 2, 'second resync');
    assert.equal(h.resyncs[1]?.length, 1, 'one agent leg in the resync');
    sim.send(last.data);
    await until(() => h.events.length >= 3, 'ended');
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(h.kinds(), ['pbx1:ringing:1001', 'pbx1:answered:1001', 'pbx1:ended:1001']);
  });

  it('closes the pop when the call ended while AMI was down', async () => {
    const sim = await simulator();
    const a = adapter(config('pbx1', sim.port));
    const h = new Harness([a]);
    a.start();
    await sim.waitForLogin(5000);
    await until(() => h.resyncs.length === 1, 'first resync');
    const frames = inboundAnsweredCall({ callerNumber: '+4930123456', callerName: 'Erika Mustermann', agent: '1001', seq: 3 });
    sim.send(scenarioBytes(frames.slice(0, -1)));
    await until(() => h.events.length === 2, 'ringing and answered');
    sim.setActiveChannels([]);
    sim.dropClients();
    await until(() => h.events.length === 3, 'ended after resync');
    assert.equal(h.events[2]?.kind, 'ended');
    assert.equal(h.events[2]?.agent.extension, '1001');
  });

  it('pops a call that started ringing while AMI was down, once, and follows it afterwards', async () => {
    const sim = await simulator();
    sim.setActiveChannels([
      { Channel: 'PJSIP/trunk-00000002', Uniqueid: '1795371090.0', Linkedid: '1795371090.0', ChannelStateDesc: 'Ring', CallerIDNum: '+4940555777', CallerIDName: 'Max Mustermann' },
      { Channel: 'PJSIP/1002-00000003', Uniqueid: '1795371090.1', Linkedid: '1795371090.0', ChannelStateDesc: 'Ringing', CallerIDNum: '1002', CallerIDName: 'Agent 1002', ConnectedLineNum: '+4940555777', ConnectedLineName: 'Max Mustermann' },
    ]);
    const a = adapter(config('pbx1', sim.port));
    const h = new Harness([a]);
    a.start();
    await until(() => h.events.length === 1, 'ringing from resync');
    assert.equal(h.events[0]?.kind, 'ringing');
    assert.deepEqual(h.events[0]?.caller, { number: '+4940555777', name: 'Max Mustermann' });
    sim.send({ Event: 'Newstate', Channel: 'PJSIP/1002-00000003', ChannelStateDesc: 'Ringing', Uniqueid: '1795371090.1', Linkedid: '1795371090.0', ConnectedLineNum: '+4940555777' });
    sim.send({ Event: 'Newstate', Channel: 'PJSIP/1002-00000003', ChannelStateDesc: 'Up', Uniqueid: '1795371090.1', Linkedid: '1795371090.0', ConnectedLineNum: '+4940555777' });
    await until(() => h.events.length === 2, 'answered');
    assert.deepEqual(h.kinds(), ['pbx1:ringing:1002', 'pbx1:answered:1002']);
  });

  it('plays several different scripted callers as separate calls', async () => {
    const sim = await simulator();
    const a = adapter(config('demo', sim.port));
    const h = new Harness([a]);
    a.start();
    await sim.waitForLogin(5000);
    await until(() => h.resyncs.length === 1, 'resync');
    const one = inboundAnsweredCall({ callerNumber: '+4930111111', callerName: 'Anna A', agent: '1001', seq: 1, answerAfterMs: 10, talkMs: 10 });
    const two = inboundAnsweredCall({ callerNumber: '+4930222222', callerName: 'Bernd B', agent: '1002', seq: 2, answerAfterMs: 10, talkMs: 10 });
    await Promise.all([sim.playScenario(one), sim.playScenario(two)]);
    await until(() => h.events.length === 6, 'six events');
    const ringing = h.events.filter((e) => e.kind === 'ringing');
    assert.deepEqual(
      ringing.map((e) => [e.agent.extension, e.caller.number, e.caller.name]).sort(),
      [
        ['1001', '+4930111111', 'Anna A'],
        ['1002', '+4930222222', 'Bernd B'],
      ],
    );
    assert.notEqual(ringing[0]?.callId, ringing[1]?.callId);
  });

  it('check() logs in and reports ok with the address, without the secret', async () => {
    const sim = await simulator();
    const a = adapter(config('pbx1', sim.port));
    const status = await a.check(AbortSignal.timeout(5000));
    assert.equal(status.ok, true);
    assert.match(status.detail, new RegExp(`127\\.0\\.0\\.1:${sim.port}`));
    assert.ok(!status.detail.includes(SECRET));
    assert.equal(sim.counters.logins, 1);
  });

  it('check() fails, saying which privilege, when the user may not list channels (the resync would fail)', async () => {
    const sim = await simulator();
    sim.onAction('CoreShowChannels', () => ({ Response: 'Error', Message: 'Permission denied' }));
    const a = adapter(config('pbx1', sim.port));
    const status = await a.check(AbortSignal.timeout(5000));
    assert.equal(status.ok, false);
    assert.match(status.detail, /logged in to Asterisk AMI .*, but .*Permission denied.*write = reporting/);
  });

  it('check() reports a wrong password clearly', async () => {
    const sim = await simulator();
    const a = adapter({ ...config('pbx1', sim.port), secret: 'not-the-secret' });
    const status = await a.check(AbortSignal.timeout(5000));
    assert.equal(status.ok, false);
    assert.match(status.detail, /refused login/);
    assert.ok(!status.detail.includes('not-the-secret'));
  });

  it('check() reports an unreachable PBX clearly', async () => {
    const sim = await simulator();
    const port = sim.port;
    await sim.close();
    sims.splice(sims.indexOf(sim), 1);
    const a = adapter(config('pbx1', port));
    const status = await a.check(AbortSignal.timeout(5000));
    assert.equal(status.ok, false);
    assert.match(status.detail, /cannot reach Asterisk AMI/);
  });
});
