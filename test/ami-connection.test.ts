import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AmiMessage } from '../src/pbx/asterisk/ami-codec.js';
import type { AmiConnectionOptions } from '../src/pbx/asterisk/ami-connection.js';
import { AmiConnection } from '../src/pbx/asterisk/ami-connection.js';
import { asteriskConfigSchema, type AsteriskConfig } from '../src/pbx/asterisk/asterisk-config.js';
import { connectionOptions } from '../src/pbx/asterisk/index.js';
import { withSchemaDefaults } from '../src/config/schema-ajv.js';
import { silentLogger } from '../src/model/logger.js';
import { CallpopError, isCallpopError } from '../src/model/errors.js';
import type { Logger } from '../src/model/logger.js';
import { AmiSimulator } from '../src/sim/ami-simulator.js';
import type { PbxStatus } from '../src/pbx/pbx-adapter.js';

const SECRET = 'sekret-Do-Not-Log-42';

/** A logger that records every line, to check what an admin would read. */
function recordingLogger(): Logger & { lines: { level: string; obj: unknown; msg?: string }[] } {
  const lines: { level: string; obj: unknown; msg?: string }[] = [];
  const make = (): Logger => ({
    trace: (obj, msg) => lines.push({ level: 'trace', obj, msg }),
    debug: (obj, msg) => lines.push({ level: 'debug', obj, msg }),
    info: (obj, msg) => lines.push({ level: 'info', obj, msg }),
    warn: (obj, msg) => lines.push({ level: 'warn', obj, msg }),
    error: (obj, msg) => lines.push({ level: 'error', obj, msg }),
    child: () => make(),
  });
  return Object.assign(make(), { lines });
}

function nextEvent<T extends unknown[]>(emitter: { once(name: string, fn: (...args: T) => void): unknown }, name: string, timeoutMs = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${name} within ${timeoutMs} ms`)), timeoutMs);
    emitter.once(name, (...args: T) => {
      clearTimeout(timer);
      resolve(args);
    });
  });
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** Connection options from a config as the loader hands it over (schema defaults applied). */
function amiOptions(port: number, config: Partial<Record<keyof AsteriskConfig, unknown>> = {}): AmiConnectionOptions {
  const full = withSchemaDefaults<AsteriskConfig>(asteriskConfigSchema, { type: 'asterisk', id: 'pbx-test', host: '127.0.0.1', port, username: 'cti', secret: SECRET, ...config });
  return connectionOptions(full, silentLogger);
}

describe('AMI connection against the simulator', () => {
  let sim: AmiSimulator;
  let conn: AmiConnection | null = null;
  const extra: { close(): Promise<void> | void }[] = [];

  function connect(port: number, options: Partial<AmiConnectionOptions> = {}): AmiConnection {
    conn = new AmiConnection({ ...amiOptions(port, { auth: 'plain', reconnect: { initial_ms: 20, max_ms: 200 }, timeouts: { connect_ms: 2000, action_ms: 2000, ping_interval_ms: 0 } }), ...options });
    return conn;
  }

  beforeEach(async () => {
    sim = new AmiSimulator({ username: 'cti', secret: SECRET });
    await sim.listen(0, '127.0.0.1');
  });

  afterEach(async () => {
    await conn?.stop();
    conn = null;
    await sim.close();
    for (const item of extra.splice(0)) await item.close();
  });

  it('logs in with a plain secret and receives events', async () => {
    const c = connect(sim.port);
    const connected = nextEvent(c, 'connected');
    c.start();
    await connected;
    const events: AmiMessage[] = [];
    c.on('event', (e) => events.push(e));
    sim.send({ Event: 'Newstate', Channel: 'PJSIP/1001-00000001', ChannelStateDesc: 'Ringing' });
    for (let i = 0; i < 200 && !events.some((e) => e['Event'] === 'Newstate'); i++) await new Promise((r) => setTimeout(r, 10));
    const event = events.find((e) => e['Event'] === 'Newstate') ?? {};
    assert.equal(event['Event'], 'Newstate');
    assert.equal(event['ChannelStateDesc'], 'Ringing');
  });

  it('asks Asterisk only for call and agent events at login', async () => {
    const c = connect(sim.port);
    c.start();
    await nextEvent(c, 'connected');
    const login = sim.received.find((a) => a['Action'] === 'Login');
    assert.equal(login?.['Events'], 'call,agent');
  });

  it('logs in with an MD5 challenge without sending the secret', async () => {
    const c = connect(sim.port, { auth: 'md5' });
    c.start();
    await nextEvent(c, 'connected');
    const login = sim.received.find((a) => a['Action'] === 'Login');
    assert.equal(login?.['AuthType'], 'MD5');
    assert.match(login?.['Key'] ?? '', /^[0-9a-f]{32}$/);
    assert.equal(login?.['Secret'], undefined);
    assert.equal(sim.counters.actions['Challenge'], 1);
  });

  it('says CALLPOP_AMI_AUTH for a wrong password, names the user and never prints the secret', async () => {
    const logger = recordingLogger();
    const c = connect(sim.port, { secret: 'wrong-password-xyz', logger });
    const statuses: PbxStatus[] = [];
    c.on('status', (s) => statuses.push(s));
    const [err] = await new Promise<[CallpopError]>((resolve) => {
      c.once('disconnected', (e) => resolve([e]));
      c.start();
    });
    assert.equal(err.code, 'CALLPOP_AMI_AUTH');
    assert.match(err.message, /"cti"/);
    assert.match(err.message, /manager\.conf/);
    assert.match(err.message, /environment variable/);
    assert.doesNotMatch(err.message, /wrong-password-xyz/);
    assert.ok(!JSON.stringify(logger.lines).includes('wrong-password-xyz'), 'secret not logged');
    const failed = statuses.find((s) => s.state === 'auth-failed');
    assert.ok(failed, 'status says auth-failed');
    // Auth failures back off to the maximum instead of hammering (max 200 ms +-20 %).
    assert.ok((failed.retryInMs ?? 0) >= 160, `retry in ${failed.retryInMs} ms`);
  });

  it('does not retry a wrong password faster than the maximum backoff', async () => {
    const c = connect(sim.port, { secret: 'nope', reconnect: { initialMs: 10, maxMs: 400 } });
    c.start();
    await new Promise((r) => setTimeout(r, 700));
    // Immediate failure + at most two retries in 700 ms at >= 320 ms each.
    assert.ok(sim.counters.failedLogins <= 3, `${sim.counters.failedLogins} attempts`);
    assert.ok(sim.counters.failedLogins >= 1);
  });

  it('says CALLPOP_AMI_CONNECT with host:port and what to check when nothing listens', async () => {
    const port = await freePort();
    const c = connect(port);
    const [err] = await new Promise<[CallpopError]>((resolve) => {
      c.once('disconnected', (e) => resolve([e]));
      c.start();
    });
    assert.equal(err.code, 'CALLPOP_AMI_CONNECT');
    assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
    assert.match(err.message, /enabled/);
    assert.match(err.message, /bindaddr/);
    assert.match(err.message, /port/);
  });

  it('retries an unreachable PBX within a second and connects once it is up', async () => {
    const port = await freePort();
    const c = connect(port, { reconnect: { initialMs: 50, maxMs: 1000 } });
    const statuses: PbxStatus[] = [];
    c.on('status', (s) => statuses.push(s));
    c.start();
    await nextEvent(c, 'disconnected');
    const first = statuses.find((s) => s.state === 'disconnected');
    assert.ok(first && (first.retryInMs ?? Infinity) <= 1000, 'first retry within 1 s');
    const late = new AmiSimulator({ username: 'cti', secret: SECRET });
    await late.listen(port, '127.0.0.1');
    extra.push(late);
    await nextEvent(c, 'connected', 10_000);
    assert.equal(late.counters.logins, 1);
  });

  it('says CALLPOP_AMI_CONNECT when the port speaks something other than AMI', async () => {
    const server = net.createServer((s) => s.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    extra.push({ close: () => new Promise<void>((r) => server.close(() => r())) });
    const address = server.address();
    const c = connect(typeof address === 'object' && address ? address.port : 0);
    const [err] = await new Promise<[CallpopError]>((resolve) => {
      c.once('disconnected', (e) => resolve([e]));
      c.start();
    });
    assert.equal(err.code, 'CALLPOP_AMI_CONNECT');
    assert.match(err.message, /not Asterisk AMI/);
  });

  it('logs one CALLPOP_AMI_FRAME line for an oversized frame and keeps going', async () => {
    const logger = recordingLogger();
    const c = connect(sim.port, { maxFrameBytes: 2048, logger });
    c.start();
    await nextEvent(c, 'connected');
    const events: AmiMessage[] = [];
    c.on('event', (e) => events.push(e));
    sim.send(`Event: Huge\r\n${'VarSet: xxxxxxxxxxxxxxxxxxxx\r\n'.repeat(500)}\r\n`);
    sim.send('no colon here\r\nEvent: Broken\r\n\r\n');
    sim.send({ Event: 'After' });
    for (let i = 0; i < 100 && !events.some((e) => e['Event'] === 'After'); i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(events.map((e) => e['Event']).filter((e) => e !== 'FullyBooted'), ['Broken', 'After']);
    const frameLines = logger.lines.filter((l) => (l.obj as { code?: string }).code === 'CALLPOP_AMI_FRAME');
    assert.equal(frameLines.length, 2, 'one line for the oversized frame, one for the malformed line');
    assert.ok(c.connected, 'still connected');
  });

  it('reconnects after the simulator drops the client', async () => {
    const c = connect(sim.port);
    c.start();
    await nextEvent(c, 'connected');
    const again = nextEvent(c, 'connected', 5000);
    sim.dropClients();
    await again;
    assert.equal(sim.counters.logins, 2);
  });

  it('correlates action responses by ActionID and ignores events carrying another connection\'s ActionID', async () => {
    const c = connect(sim.port);
    c.start();
    await nextEvent(c, 'connected');
    const events: AmiMessage[] = [];
    c.on('event', (e) => events.push(e));
    // Another session's Originate result, broadcast to everyone (README: drv-2).
    sim.send({ Event: 'OriginateResponse', ActionID: 'drv-2', Response: 'Success', Channel: 'PJSIP/1001-00000000' });
    sim.onAction('Getvar', (a) => ({ Response: 'Success', Variable: a['Variable'] ?? '', Value: 'allowed_not_screened' }));
    const [pong, value] = await Promise.all([c.action('Ping'), c.action('Getvar', { Channel: 'PJSIP/trunk-00000000', Variable: 'CALLERID(pres)' })]);
    assert.equal(pong['Ping'], 'Pong');
    assert.equal(value['Value'], 'allowed_not_screened');
    assert.ok(events.some((e) => e['Event'] === 'OriginateResponse' && e['ActionID'] === 'drv-2'), 'foreign event delivered as an event');
  });

  it('collects a CoreShowChannels list until CoreShowChannelsComplete', async () => {
    sim.setActiveChannels([
      { Channel: 'PJSIP/1001-00000001', Uniqueid: '1.1', Linkedid: '1.0', ChannelStateDesc: 'Up' },
      { Channel: 'PJSIP/trunk-00000000', Uniqueid: '1.0', Linkedid: '1.0', ChannelStateDesc: 'Up' },
    ]);
    const c = connect(sim.port);
    c.start();
    await nextEvent(c, 'connected');
    const list = await c.actionList('CoreShowChannels');
    assert.equal(list.response['EventList'], 'start');
    assert.deepEqual(list.events.map((e) => e['Uniqueid']), ['1.1', '1.0']);
    assert.equal(list.truncated, undefined);
  });

  it('says a list was cut when it has more events than maxEvents, keeping only that many', async () => {
    sim.setActiveChannels([1, 2, 3, 4, 5].map((n) => ({ Channel: `PJSIP/100${n}-0000000${n}`, Uniqueid: `1.${n}`, Linkedid: `1.${n}`, ChannelStateDesc: 'Up' })));
    const c = connect(sim.port);
    c.start();
    await nextEvent(c, 'connected');
    const list = await c.actionList('CoreShowChannels', {}, { maxEvents: 2 });
    assert.equal(list.truncated, true);
    assert.deepEqual(list.events.map((e) => e['Uniqueid']), ['1.1', '1.2']);
  });

  it('rejects an action with CALLPOP_AMI_ACTION_TIMEOUT when no answer comes', async () => {
    sim.onAction('Redirect', () => 'ignore');
    const c = connect(sim.port);
    c.start();
    await nextEvent(c, 'connected');
    await assert.rejects(c.action('Redirect', { Channel: 'PJSIP/1001-00000001', Exten: '1002', Context: 'from-agents', Priority: 1 }, { timeoutMs: 150 }), (err: unknown) =>
      isCallpopError(err, 'CALLPOP_AMI_ACTION_TIMEOUT'),
    );
  });

  it('fails pending actions with CALLPOP_AMI_DISCONNECTED when the connection drops mid-action', async () => {
    sim.onAction('Originate', () => 'ignore');
    const c = connect(sim.port);
    c.start();
    await nextEvent(c, 'connected');
    const pending = c.action('Originate', { Channel: 'PJSIP/1001', Exten: '+4989123456', Context: 'from-agents', Priority: 1 }, { timeoutMs: 10_000 });
    await new Promise((r) => setTimeout(r, 50));
    sim.dropClients();
    await assert.rejects(pending, (err: unknown) => isCallpopError(err, 'CALLPOP_AMI_DISCONNECTED'));
    await nextEvent(c, 'connected', 5000);
    const pong = await c.action('Ping');
    assert.equal(pong['Ping'], 'Pong', 'actions work again after the reconnect');
  });

  it('rejects an action at once with CALLPOP_AMI_DISCONNECTED when not connected', async () => {
    const c = connect(sim.port);
    await assert.rejects(c.action('Ping'), (err: unknown) => isCallpopError(err, 'CALLPOP_AMI_DISCONNECTED'));
  });

  it('detects a dead peer with keep-alive Ping and reconnects', async () => {
    const c = connect(sim.port, { pingIntervalMs: 50, pingTimeoutMs: 100 });
    c.start();
    await nextEvent(c, 'connected');
    sim.freeze(true);
    const [err] = await nextEvent<[CallpopError]>(c, 'disconnected', 5000);
    assert.equal(err.code, 'CALLPOP_AMI_DISCONNECTED');
    assert.match(err.message, /Ping/);
    sim.freeze(false);
    await nextEvent(c, 'connected', 5000);
    assert.equal(sim.counters.logins, 2);
  });

  it('sends the configured Filter actions after login', async () => {
    const c = connect(sim.port, { filters: ['Event: Newstate', 'Event: Hangup'] });
    c.start();
    await nextEvent(c, 'connected');
    for (let i = 0; i < 50 && (sim.counters.actions['Filter'] ?? 0) < 2; i++) await new Promise((r) => setTimeout(r, 10));
    const filters = sim.received.filter((a) => a['Action'] === 'Filter').map((a) => a['Filter']);
    assert.deepEqual(filters, ['Event: Newstate', 'Event: Hangup']);
  });

  it('proves credentials once with connectOnce and reports a wrong password', async () => {
    const good = connect(sim.port);
    await good.connectOnce(AbortSignal.timeout(5000));
    await good.stop();
    const bad = connect(sim.port, { secret: 'bad' });
    await assert.rejects(bad.connectOnce(AbortSignal.timeout(5000)), (err: unknown) => isCallpopError(err, 'CALLPOP_AMI_AUTH'));
    assert.equal(sim.counters.failedLogins, 1, 'no retry in check mode');
  });
});

describe('AMI connection over TLS', () => {
  let dir: string;
  let key: string;
  let cert: string;
  let sim: AmiSimulator;
  let conn: AmiConnection | null = null;

  before(function () {
    dir = mkdtempSync(join(tmpdir(), 'callpop-ami-tls-'));
    try {
      execFileSync(
        'openssl',
        ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'],
        { stdio: 'ignore' },
      );
    } catch {
      if (process.env.CI === 'true') throw new Error('openssl CLI is required for the TLS tests');
      console.warn('\n  !! SKIPPED: openssl CLI not found, AMI TLS tests skipped\n');
      this.skip();
    }
    key = readFileSync(join(dir, 'key.pem'), 'utf8');
    cert = readFileSync(join(dir, 'cert.pem'), 'utf8');
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  beforeEach(async () => {
    sim = new AmiSimulator({ username: 'cti', secret: SECRET, tls: { key, cert } });
    await sim.listen(0, '127.0.0.1');
  });

  afterEach(async () => {
    await conn?.stop();
    conn = null;
    await sim.close();
  });

  it('logs in over TLS with MD5 when the certificate is trusted', async () => {
    conn = new AmiConnection(amiOptions(sim.port, { auth: 'md5', tls: { enabled: true, ca_file: join(dir, 'cert.pem') }, timeouts: { ping_interval_ms: 0 } }));
    conn.start();
    await nextEvent(conn, 'connected');
    assert.equal(sim.counters.logins, 1);
    const pong = await conn.action('Ping');
    assert.equal(pong['Ping'], 'Pong');
  });

  it('refuses an untrusted certificate with CALLPOP_AMI_CONNECT naming TLS', async () => {
    conn = new AmiConnection(amiOptions(sim.port, { tls: { enabled: true }, timeouts: { ping_interval_ms: 0 }, reconnect: { initial_ms: 1000, max_ms: 1000 } }));
    const [err] = await new Promise<[CallpopError]>((resolve) => {
      conn!.once('disconnected', (e) => resolve([e]));
      conn!.start();
    });
    assert.equal(err.code, 'CALLPOP_AMI_CONNECT');
    assert.match(err.message, /TLS|certificate/);
    assert.equal(sim.counters.logins, 0);
  });
});
