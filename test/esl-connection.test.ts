import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import type { CallEvent } from '../src/model/call-event.js';
import { isCallpopError } from '../src/model/errors.js';
import type { Logger } from '../src/model/logger.js';
import { silentLogger } from '../src/model/logger.js';
import type { EslEvent } from '../src/pbx/freeswitch/esl-codec.js';
import { EslConnection } from '../src/pbx/freeswitch/esl-connection.js';
import type { EslConnectionOptions } from '../src/pbx/freeswitch/esl-connection.js';
import { freeswitchConfigSchema, type FreeswitchConfig } from '../src/pbx/freeswitch/freeswitch-config.js';
import { eslConnectionOptions, FreeswitchAdapter, freeswitchAdapter } from '../src/pbx/freeswitch/index.js';
import { withSchemaDefaults } from '../src/config/schema-ajv.js';
import { freeswitchConfig } from '../src/sim/pbx-configs.js';
import type { PbxStatus } from '../src/pbx/pbx-adapter.js';
import type { ActiveLeg, LegEvent } from '../src/model/leg-event.js';
import { CallTracker } from '../src/calls/call-tracker.js';
import { EslSimulator } from '../src/sim/esl-simulator.js';
import { reconnectScenario } from '../src/sim/esl-scenarios.js';
import { eslInboundCall } from '../src/sim/esl-inbound-call.js';
import { encodeEventFrame } from '../src/sim/esl-simulator.js';

const fixtures = new URL('../../test/fixtures/freeswitch/', import.meta.url);
const PASSWORD = 'S3cret-ClueCon';

/** A logger that keeps every line, to prove the password is never logged. */
function capturingLogger(lines: string[]): Logger {
  const log = (level: string) => (obj: object | string, msg?: string) => lines.push(`${level} ${JSON.stringify(obj)} ${msg ?? ''}`);
  const logger: Logger = { trace: log('trace'), debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error'), child: () => logger };
  return logger;
}

function waitFor(check: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const tick = (): void => {
      if (check()) resolve();
      else if (Date.now() - started > timeoutMs) reject(new Error(`timed out waiting for ${what}`));
      else setTimeout(tick, 10);
    };
    tick();
  });
}

async function unusedPort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

describe('ESL connection against the simulator', () => {
  let sim: EslSimulator;
  let conn: EslConnection | null = null;
  const cleanups: Array<() => Promise<void> | void> = [];

  beforeEach(async () => {
    sim = new EslSimulator({ password: PASSWORD });
    await sim.listen(0, '127.0.0.1');
  });

  afterEach(async () => {
    if (conn) await conn.stop();
    conn = null;
    for (const c of cleanups.splice(0)) await c();
    await sim.close();
  });

  function options(extra: Partial<EslConnectionOptions> = {}): EslConnectionOptions {
    // The config as the loader hands it over (schema defaults applied), then the test's changes.
    const config = withSchemaDefaults<FreeswitchConfig>(freeswitchConfigSchema, {
      id: 'fs1',
      type: 'freeswitch',
      host: '127.0.0.1',
      port: sim.port,
      password: PASSWORD,
      reconnect: { initial_ms: 50, max_ms: 400 },
      timeouts: { command_ms: 2000 },
    });
    return { ...eslConnectionOptions(config, silentLogger), events: ['CHANNEL_CREATE', 'HEARTBEAT'], ...extra };
  }

  it('authenticates and subscribes to the configured events in the configured format', async () => {
    conn = new EslConnection(options({ eventFormat: 'plain' }));
    conn.start();
    await sim.waitForSubscription(5000);
    assert.equal(sim.commandLog[0], 'auth ********');
    assert.equal(sim.commandLog[1], 'event plain CHANNEL_CREATE HEARTBEAT');
  });

  it('delivers events sent by the server', async () => {
    conn = new EslConnection(options());
    const got: EslEvent[] = [];
    conn.on('event', (e) => got.push(e));
    conn.start();
    await sim.waitForSubscription();
    sim.sendEvents([{ name: 'HEARTBEAT', headers: { 'Event-Name': 'HEARTBEAT', 'Up-Time': '1 day' } }]);
    await waitFor(() => got.length === 1, 5000, 'the event');
    assert.equal(got[0]?.headers['Up-Time'], '1 day');
  });

  it('answers api commands in order', async () => {
    conn = new EslConnection(options());
    conn.start();
    await sim.waitForSubscription();
    await waitFor(() => conn!.connected);
    sim.setChannels({ row_count: 0 });
    const [a, b, c] = await Promise.all([conn.api('show channels as json'), conn.api('status'), conn.api('nosuch')]);
    assert.equal(a, '{"row_count":0}');
    assert.match(b, /^UP /);
    assert.match(c, /^-ERR nosuch/);
  });

  it('fails with CALLPOP_ESL_AUTH on a wrong password, without printing it', async () => {
    const lines: string[] = [];
    conn = new EslConnection(options({ password: 'wrong-pass-123', logger: capturingLogger(lines) }));
    await assert.rejects(conn.connectOnce(), (err: unknown) => {
      assert.ok(isCallpopError(err, 'CALLPOP_ESL_AUTH'));
      assert.match((err as Error).message, /127\.0\.0\.1:\d+/);
      assert.equal((err as Error).message.includes('wrong-pass-123'), false);
      return true;
    });
    assert.equal(lines.join('\n').includes('wrong-pass-123'), false);
    assert.equal(sim.counters.authFailed, 1);
  });

  it('reports auth-failed status and keeps retrying with backoff after a wrong password', async () => {
    conn = new EslConnection(options({ password: 'nope' }));
    const statuses: PbxStatus[] = [];
    conn.on('status', (s) => statuses.push(s));
    conn.start();
    await waitFor(() => sim.counters.authFailed >= 2, 5000, 'a second auth attempt');
    const failed = statuses.filter((s) => s.state === 'auth-failed');
    assert.ok(failed.length >= 1);
    assert.equal(failed[0]?.reason?.includes('nope'), false);
    assert.ok((failed[0]?.retryInMs ?? 0) > 0);
  });

  it('fails with CALLPOP_ESL_CONNECT naming host:port and event_socket.conf.xml on an unreachable port', async () => {
    const port = await unusedPort();
    conn = new EslConnection(options({ port }));
    await assert.rejects(conn.connectOnce(), (err: unknown) => {
      assert.ok(isCallpopError(err, 'CALLPOP_ESL_CONNECT'));
      assert.match((err as Error).message, new RegExp(`127\\.0\\.0\\.1:${port}`));
      assert.match((err as Error).message, /event_socket\.conf\.xml/);
      assert.match((err as Error).message, /listen-ip/);
      return true;
    });
  });

  it('retries an unreachable port first within a second', async () => {
    const port = await unusedPort();
    conn = new EslConnection(options({ port, reconnect: { initialMs: 500, maxMs: 30000 } }));
    const statuses: PbxStatus[] = [];
    conn.on('status', (s) => statuses.push(s));
    conn.start();
    await waitFor(() => statuses.some((s) => s.state === 'disconnected'), 5000, 'a disconnected status');
    const first = statuses.find((s) => s.state === 'disconnected');
    assert.ok(first?.retryInMs !== undefined && first.retryInMs <= 1000, `first retry in ${first?.retryInMs} ms`);
    assert.match(first?.reason ?? '', /CONNREFUSED|event_socket/);
  });

  it('grows the retry delay exponentially up to the cap', async () => {
    const port = await unusedPort();
    conn = new EslConnection(options({ port, reconnect: { initialMs: 20, maxMs: 100 } }));
    const delays: number[] = [];
    conn.on('status', (s) => {
      if (s.state === 'disconnected' && s.retryInMs !== undefined) delays.push(s.retryInMs);
    });
    conn.start();
    await waitFor(() => delays.length >= 6, 5000, 'six retries');
    assert.ok(delays[1]! > delays[0]!, `delays ${delays.join(',')}`);
    assert.ok(delays.every((d) => d <= 100), `delays ${delays.join(',')}`);
    // reconnect-policy.ts: the cap less up to 20 % jitter.
    assert.ok(delays.slice(4).every((d) => d >= 80), `delays ${delays.join(',')}`);
  });

  it('says the ACL refused the connection on text/rude-rejection', async () => {
    const rude = new EslSimulator({ password: PASSWORD, rejectConnections: true });
    const port = await rude.listen(0, '127.0.0.1');
    cleanups.push(() => rude.close());
    conn = new EslConnection(options({ port }));
    await assert.rejects(conn.connectOnce(), (err: unknown) => isCallpopError(err, 'CALLPOP_ESL_CONNECT') && /apply-inbound-acl/.test((err as Error).message));
  });

  it('times out a command with CALLPOP_ESL_COMMAND_TIMEOUT and keeps later replies in order', async () => {
    const server = net.createServer((socket) => {
      socket.write('Content-Type: auth/request\n\n');
      let buffered = '';
      let apiCount = 0;
      // ESL answers strictly in order: a reply waits for the one before it.
      let chain = Promise.resolve();
      socket.on('data', (d) => {
        buffered += d.toString();
        let end: number;
        while ((end = buffered.indexOf('\n\n')) >= 0) {
          const line = buffered.slice(0, end);
          buffered = buffered.slice(end + 2);
          if (line.startsWith('auth') || line.startsWith('event')) socket.write('Content-Type: command/reply\nReply-Text: +OK\n\n');
          else if (line.startsWith('api')) {
            apiCount++;
            const n = apiCount;
            // The first answer comes late (after the client gave up on it).
            chain = chain.then(
              () => new Promise<void>((r) => setTimeout(() => {
                if (!socket.destroyed) socket.write(`Content-Type: api/response\nContent-Length: 6\n\nreply${n}`);
                r();
              }, n === 1 ? 300 : 0)),
            );
          }
        }
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    conn = new EslConnection(options({ port: (server.address() as net.AddressInfo).port }));
    conn.start();
    await waitFor(() => conn!.connected);
    await assert.rejects(conn.api('slow', 100), (err: unknown) => isCallpopError(err, 'CALLPOP_ESL_COMMAND_TIMEOUT'));
    assert.equal(await conn.api('fast', 2000), 'reply2');
  });

  it('fails pending commands with CALLPOP_ESL_DISCONNECTED when the link drops', async () => {
    conn = new EslConnection(options());
    conn.start();
    await sim.waitForSubscription();
    await waitFor(() => conn!.connected);
    const pending = conn.send({ kind: 'bgapi', command: 'status' }).then(() => conn!.api('show channels as json'));
    // Drop right after the bgapi reply path is exercised: the api call is pending or not sent.
    const blocked = conn.api('status');
    sim.dropClients();
    const results = await Promise.allSettled([pending, blocked]);
    const reasons = results.flatMap((r) => (r.status === 'rejected' ? [r.reason] : []));
    assert.ok(reasons.length >= 1);
    for (const reason of reasons) assert.ok(isCallpopError(reason, 'CALLPOP_ESL_DISCONNECTED'), String(reason));
  });

  it('survives a malformed frame and keeps delivering events', async () => {
    conn = new EslConnection(options());
    const got: EslEvent[] = [];
    conn.on('event', (e) => got.push(e));
    conn.start();
    await sim.waitForSubscription();
    sim.send('Content-Length: 11\nContent-Type: text/event-json\n\n{"broken":\n');
    sim.send('this is not a header block\n\n');
    sim.sendEvents([{ name: 'HEARTBEAT', headers: { 'Event-Name': 'HEARTBEAT' } }]);
    await waitFor(() => got.length === 1, 5000, 'the event after the garbage');
    assert.ok(conn.stats.frameErrors >= 2);
    assert.equal(conn.connected, true);
  });

  it('reconnects after the server drops the connection and subscribes again', async () => {
    conn = new EslConnection(options());
    let connects = 0;
    conn.on('connected', () => connects++);
    conn.start();
    await sim.waitForSubscription();
    await waitFor(() => connects === 1);
    sim.dropClients();
    await waitFor(() => connects === 2, 5000, 'the reconnect');
    assert.equal(sim.counters.authOk, 2);
    assert.equal(sim.subscribedClients, 1);
  });

  it('reconnects when a quiet link stays silent past the idle timeout', async () => {
    conn = new EslConnection(options({ idleTimeoutMs: 150 }));
    let connects = 0;
    conn.on('connected', () => connects++);
    conn.start();
    await waitFor(() => connects >= 2, 5000, 'an idle reconnect');
  });
});

describe('FreeSWITCH adapter against the simulator', () => {
  let sim: EslSimulator;
  let adapter: FreeswitchAdapter | null = null;

  beforeEach(async () => {
    sim = new EslSimulator({ password: PASSWORD });
    await sim.listen(0, '127.0.0.1');
  });

  afterEach(async () => {
    if (adapter) await adapter.stop();
    adapter = null;
    await sim.close();
  });

  function create(format: 'json' | 'plain' = 'json', agents?: { map: Record<string, string>; pattern: string }): FreeswitchAdapter {
    const config = freeswitchConfig({
      id: 'fs1',
      host: '127.0.0.1',
      port: sim.port,
      password: PASSWORD,
      event_format: format,
      reconnect: { initial_ms: 50, max_ms: 400 },
      ...(agents ? { agents } : {}),
    });
    return freeswitchAdapter.create(config, { logger: silentLogger }) as FreeswitchAdapter;
  }

  function track(a: FreeswitchAdapter): { calls: CallEvent[]; legs: LegEvent[]; resyncs: ActiveLeg[][] } {
    const tracker = new CallTracker({ agentForDevice: (_p, d) => a.agentFor(d) });
    const state = { calls: [] as CallEvent[], legs: [] as LegEvent[], resyncs: [] as ActiveLeg[][] };
    a.on('leg', (leg) => {
      state.legs.push(leg);
      state.calls.push(...tracker.handle(leg));
    });
    a.on('resync', (legs) => {
      state.resyncs.push(legs);
      state.calls.push(...tracker.resync('fs1', legs));
    });
    return state;
  }

  for (const format of ['json', 'plain'] as const) {
    it(`replays capture 01 to a ${format} subscriber as one pop, answered and ended`, async () => {
      adapter = create(format);
      const state = track(adapter);
      adapter.start();
      await sim.waitForSubscription();
      await waitFor(() => state.resyncs.length === 1, 5000, 'the first resync');
      await sim.replayCapture(new URL('01-inbound-answered.json.esl', fixtures).pathname, { chunkSize: 1500 });
      await waitFor(() => state.calls.length === 3, 5000, 'three call events');
      assert.deepEqual(state.calls.map((e) => `${e.kind}:${e.agent.extension}:${e.caller.number}`), ['ringing:1001:+4930123456', 'answered:1001:+4930123456', 'ended:1001:+4930123456']);
    });
  }

  it('subscribes only to the events the normaliser reads', async () => {
    adapter = create('json');
    adapter.start();
    await sim.waitForSubscription();
    const sub = sim.commandLog.find((l) => l.startsWith('event '));
    assert.equal(sub, 'event json CHANNEL_CREATE CHANNEL_PROGRESS CHANNEL_PROGRESS_MEDIA CHANNEL_ANSWER CHANNEL_BRIDGE CHANNEL_UNBRIDGE CHANNEL_PARK CHANNEL_HANGUP CHANNEL_HANGUP_COMPLETE CALL_UPDATE API HEARTBEAT CUSTOM callcenter::info');
  });

  it('resyncs after a FreeSWITCH restart mid-call without a second pop and without losing the ended', async () => {
    const s = reconnectScenario();
    adapter = create('json');
    const state = track(adapter);
    adapter.start();
    await sim.waitForSubscription();
    await waitFor(() => state.resyncs.length === 1);
    sim.sendEvents(s.before);
    await waitFor(() => state.calls.length === 4, 5000, 'the calls before the drop');
    sim.setChannels(s.channels);
    sim.dropClients();
    await waitFor(() => state.resyncs.length === 2, 5000, 'the resync after the reconnect');
    await sim.waitForSubscription();
    sim.sendEvents(s.after);
    await waitFor(() => state.calls.length === 8, 5000, 'the calls after the reconnect');
    assert.deepEqual(state.calls.map((e) => `${e.kind}:${e.agent.extension}`), [
      'ringing:1001',
      'answered:1001',
      'ringing:1002',
      'ringing:1003',
      'missed:1003',
      'answered:1002',
      'ended:1001',
      'ended:1002',
    ]);
  });

  for (const badLength of ['-5', 'abc', '999999999999999']) {
    it(`reconnects and resyncs after a Content-Length of ${badLength}, then pops the next calls (issue 13)`, async () => {
      adapter = create('json');
      const state = track(adapter);
      adapter.start();
      await sim.waitForSubscription();
      await waitFor(() => state.resyncs.length === 1, 5000, 'the first resync');
      const call = (seq: number, agent: string) => eslInboundCall({ callerNumber: `+4930000${seq}`, agent, seq }).flatMap((p) => p.events);
      const body = '{"Event-Name":"HEARTBEAT"}';
      // The bad frame is followed at once by a whole call: those bytes are lost with the link.
      sim.send([`Content-Length: ${badLength}\nContent-Type: text/event-json\n\n${body}`, ...call(1, '1001').map((e) => encodeEventFrame(e, 'json'))]);
      await waitFor(() => state.resyncs.length === 2, 5000, 'the resync after the protocol error');
      await sim.waitForSubscription();
      for (let seq = 2; seq <= 6; seq++) sim.sendEvents(call(seq, '1002'));
      await waitFor(() => state.calls.filter((e) => e.kind === 'ringing').length === 5, 5000, 'five pops after the reconnect');
      assert.deepEqual(
        state.calls.filter((e) => e.kind === 'ringing').map((e) => e.caller.number),
        ['+49300002', '+49300003', '+49300004', '+49300005', '+49300006'],
      );
    });
  }

  it('maps devices to agents through agents.map before agents.pattern', () => {
    adapter = create('json', { map: { 'user/alice': '2001', bob: '2002' }, pattern: '^user/(1\\d{3})$' });
    assert.equal(adapter.agentFor('user/alice'), '2001');
    assert.equal(adapter.agentFor('user/bob'), '2002');
    assert.equal(adapter.agentFor('user/1001'), '1001');
    assert.equal(adapter.agentFor('user/conference'), null);
  });

  it('check() authenticates and closes, reporting ok', async () => {
    adapter = create('json');
    const result = await adapter.check(AbortSignal.timeout(5000));
    assert.equal(result.ok, true);
    assert.match(result.detail, /127\.0\.0\.1:\d+/);
    await waitFor(() => sim.connectedClients === 0, 5000, 'the check connection to close');
    assert.equal(sim.counters.authOk, 1);
  });

  it('check() reports a wrong password without revealing it', async () => {
    const config = freeswitchConfig({ id: 'fs1', host: '127.0.0.1', port: sim.port, password: 'Wr0ngPw' });
    adapter = freeswitchAdapter.create(config, { logger: silentLogger }) as FreeswitchAdapter;
    const result = await adapter.check(AbortSignal.timeout(5000));
    assert.equal(result.ok, false);
    assert.match(result.detail, /rejected the password/);
    assert.equal(result.detail.includes('Wr0ngPw'), false);
  });
});
