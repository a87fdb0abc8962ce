import assert from 'node:assert/strict';
import { CallTracker } from '../src/calls/call-tracker.js';
import type { CallEvent } from '../src/model/call-event.js';
import { isCallpopError } from '../src/model/errors.js';
import type { Logger } from '../src/model/logger.js';
import { silentLogger } from '../src/model/logger.js';
import { EslConnection, type EslConnectionOptions } from '../src/pbx/freeswitch/esl-connection.js';
import { freeswitchConfigSchema, type FreeswitchConfig } from '../src/pbx/freeswitch/freeswitch-config.js';
import { withSchemaDefaults } from '../src/config/schema-ajv.js';
import { freeswitchConfig } from '../src/sim/pbx-configs.js';
import { FreeswitchNormaliser, FREESWITCH_EVENT_SUBSCRIPTION } from '../src/pbx/freeswitch/freeswitch-normaliser.js';
import { eslConnectionOptions, freeswitchAdapter, type FreeswitchAdapter } from '../src/pbx/freeswitch/index.js';
import { reconnectScenario } from '../src/sim/esl-scenarios.js';
import { EslSimulator, type EslSimulatorUser } from '../src/sim/esl-simulator.js';
import { freeswitchNormaliserSettings } from '../src/sim/pbx-configs.js';

/**
 * `userauth user@domain:password` (mod_event_socket's per-user login) and what a user's
 * esl-allowed-events / esl-allowed-api refuse: each refusal is a clear error, and a refused
 * resync never ends the calls callpop is tracking.
 */

const USER = 'callpop@cti.test';
const USER_PASSWORD = 'u53r-s3cret';
const EVERYTHING_CALLPOP_NEEDS = [...FREESWITCH_EVENT_SUBSCRIPTION];

function logLines(lines: string[]): Logger {
  const log = (level: string) => (obj: object, msg?: string) => lines.push(`${level} ${msg ?? ''} ${JSON.stringify(obj)}`);
  return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error'), child: () => logLines(lines) } as unknown as Logger;
}

async function waitFor(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('FreeSWITCH userauth and per-user permissions', () => {
  let sim: EslSimulator;
  let conn: EslConnection | null = null;
  let adapter: FreeswitchAdapter | null = null;

  async function start(user: EslSimulatorUser): Promise<void> {
    sim = new EslSimulator({ password: 'global-ClueCon', users: { [USER]: user } });
    await sim.listen(0, '127.0.0.1');
  }

  afterEach(async () => {
    if (conn) await conn.stop();
    if (adapter) await adapter.stop();
    conn = null;
    adapter = null;
    await sim.close();
  });

  function connection(extra: Partial<EslConnectionOptions> = {}): EslConnection {
    // The config as the loader hands it over (schema defaults applied), then the test's changes.
    const config = withSchemaDefaults<FreeswitchConfig>(freeswitchConfigSchema, {
      id: 'fs1',
      type: 'freeswitch',
      host: '127.0.0.1',
      port: sim.port,
      username: USER,
      password: USER_PASSWORD,
      reconnect: { initial_ms: 50, max_ms: 400 },
    });
    return new EslConnection({ ...eslConnectionOptions(config, silentLogger), events: EVERYTHING_CALLPOP_NEEDS, ...extra });
  }

  function createAdapter(logger: Logger = silentLogger, password = USER_PASSWORD): FreeswitchAdapter {
    const config = freeswitchConfig({ id: 'fs1', host: '127.0.0.1', port: sim.port, username: USER, password, reconnect: { initial_ms: 50, max_ms: 400 } });
    return freeswitchAdapter.create(config, { logger }) as FreeswitchAdapter;
  }

  it('logs in with userauth instead of auth, and never shows the password', async () => {
    await start({ password: USER_PASSWORD });
    conn = connection();
    await conn.connectOnce(undefined, { subscribe: true });
    assert.equal(sim.commandLog[0], `userauth ${USER}:********`);
    assert.match(sim.commandLog[1] ?? '', /^event json CHANNEL_CREATE /);
    assert.equal(sim.counters.authOk, 1);
  });

  it('names the user, not the password, when the esl-password is wrong', async () => {
    await start({ password: USER_PASSWORD });
    conn = connection({ password: 'not-the-one' });
    await assert.rejects(conn.connectOnce(), (err: unknown) => {
      assert.ok(isCallpopError(err, 'CALLPOP_ESL_AUTH'));
      assert.match((err as Error).message, /rejected user callpop@cti\.test \(-ERR invalid\).*esl-password/);
      assert.equal((err as Error).message.includes('not-the-one'), false);
      return true;
    });
  });

  it('says which events esl-allowed-events must list when the subscription is refused', async () => {
    await start({ password: USER_PASSWORD, allowedEvents: ['CHANNEL_CREATE', 'CHANNEL_ANSWER', 'CHANNEL_HANGUP'] });
    conn = connection();
    await assert.rejects(conn.connectOnce(undefined, { subscribe: true }), (err: unknown) => {
      assert.ok(isCallpopError(err, 'CALLPOP_ESL_CONNECT'));
      assert.match((err as Error).message, /refused the event subscription \(-ERR permission denied\); user callpop@cti\.test needs esl-allowed-events ".*CHANNEL_BRIDGE.*callcenter::info"/);
      return true;
    });
  });

  it('returns the text of a refused api command instead of an empty answer', async () => {
    await start({ password: USER_PASSWORD, allowedApi: ['status'] });
    conn = connection();
    await conn.connectOnce(undefined, { subscribe: true });
    assert.equal(await conn.api('show channels as json'), '-ERR permission denied');
    assert.match(await conn.api('status'), /^UP /);
  });

  it('keeps tracking the calls when the resync is refused, and says what the user needs', async () => {
    await start({ password: USER_PASSWORD, allowedEvents: EVERYTHING_CALLPOP_NEEDS, allowedApi: ['status'] });
    const lines: string[] = [];
    adapter = createAdapter(logLines(lines));
    const tracker = new CallTracker({ agentForDevice: (_p, d) => adapter!.agentFor(d) });
    const calls: CallEvent[] = [];
    adapter.on('leg', (leg) => calls.push(...tracker.handle(leg)));
    adapter.on('resync', (legs) => calls.push(...tracker.resync('fs1', legs)));
    adapter.start();
    await sim.waitForSubscription();
    const s = reconnectScenario();
    sim.sendEvents(s.before);
    await waitFor(() => calls.length === 4, 'the calls before the drop');
    // A reconnect whose `show channels` is refused must not read as "no calls any more".
    sim.dropClients();
    await sim.waitForSubscription(5000, 1);
    await waitFor(() => lines.some((l) => l.includes('ESL resync failed') && l.includes('CALLPOP_ESL_COMMAND')) && lines.filter((l) => l.includes('ESL resync failed')).length >= 2, 'the refused resync after the reconnect');
    assert.deepEqual(calls.map((e) => `${e.kind}:${e.agent.extension}`), ['ringing:1001', 'answered:1001', 'ringing:1002', 'ringing:1003']);
    // Under load the first resync may lose its race with the drop (CALLPOP_ESL_DISCONNECTED);
    // the refusal must still be reported, by the resync after the reconnect.
    const warning = lines.find((l) => l.includes('ESL resync failed') && l.includes('CALLPOP_ESL_COMMAND')) ?? '';
    assert.match(warning, /CALLPOP_ESL_COMMAND/);
    assert.match(warning, /needs \\"show\\" in esl-allowed-api/);
  });

  it('check() proves login, subscription and the resync command, naming the user', async () => {
    await start({ password: USER_PASSWORD, allowedEvents: EVERYTHING_CALLPOP_NEEDS, allowedApi: ['show'] });
    adapter = createAdapter();
    const ok = await adapter.check(AbortSignal.timeout(5000));
    assert.equal(ok.ok, true, ok.detail);
    assert.match(ok.detail, /as callpop@cti\.test, subscribed \(json\), 0 channel\(s\) up/);
  });

  it('check() fails when the user may not run show channels', async () => {
    await start({ password: USER_PASSWORD, allowedApi: ['status'] });
    adapter = createAdapter();
    const result = await adapter.check(AbortSignal.timeout(5000));
    assert.equal(result.ok, false);
    assert.match(result.detail, /refused "show channels as json" \(-ERR permission denied\); user callpop@cti\.test needs "show" in esl-allowed-api/);
  });
});

describe('FreeSWITCH resync answers', () => {
  it('keeps its channels when show channels gives something that is not a channel list', () => {
    const normaliser = new FreeswitchNormaliser(freeswitchNormaliserSettings({ pbxId: 'fs1', keepRaw: false }));
    for (const e of reconnectScenario().before) normaliser.handle(e);
    const before = normaliser.size;
    assert.ok(before > 0);
    for (const garbled of ['', '-USAGE: show ...', '{"rows":"x"}', '<html>']) {
      assert.throws(() => normaliser.resync(garbled), (err: unknown) => isCallpopError(err, 'CALLPOP_ESL_COMMAND'), garbled);
      assert.equal(normaliser.size, before, `channels kept after ${JSON.stringify(garbled)}`);
    }
  });

  it('takes {"row_count":0} and an old FreeSWITCH\'s "0 total." as no channels', () => {
    for (const empty of ['{"row_count":0}', '0 total.\n']) {
      const normaliser = new FreeswitchNormaliser(freeswitchNormaliserSettings({ pbxId: 'fs1', keepRaw: false }));
      for (const e of reconnectScenario().before) normaliser.handle(e);
      normaliser.resync(empty);
      assert.equal(normaliser.size, 0, empty);
    }
  });
});
