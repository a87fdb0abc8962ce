import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { withSchemaDefaults } from '../src/config/schema-ajv.js';
import { deliverable } from '../src/hub/deliverable.js';
import { hubConfigSchema, type HubConfig } from '../src/hub/hub-config.js';
import { HubServer, type HubServerOptions, type SnapshotProvider } from '../src/hub/hub-server.js';
import type { CallStateMessage, PopMessage, Unstamped } from '../src/hub/protocol.js';
import { silentLogger } from '../src/model/logger.js';
import { WebSocket } from 'ws';
import type { Logger } from '../src/model/logger.js';
import { TestAgentClient } from './helpers/ws-client.js';

/** A hub config with the schema's defaults for every key a test does not set. */
function hubConfig(overrides: Partial<HubConfig> = {}): HubConfig {
  return withSchemaDefaults<HubConfig>(hubConfigSchema, {
    host: '127.0.0.1',
    port: 0,
    tokens: [
      { name: 'alice', token: 'token-alice-1001', agents: ['1001'], role: 'agent' },
      { name: 'sup', token: 'token-supervisor', agents: ['*'], role: 'supervisor', admin: true },
    ],
    max_payload_bytes: 4096,
    max_buffered_bytes: 64 * 1024,
    hello_timeout_ms: 2000,
    replay_window_ms: 60000,
    replay_max_messages: 50,
    max_connections: 100,
    ...overrides,
  });
}

function pop(agent: string, callId: string, name = 'Erika Mustermann'): Unstamped<PopMessage> {
  return {
    type: 'pop', callId, pbx: 'main', agent, direction: 'inbound',
    caller: { number: '+4930123456', name }, callee: { number: agent, name: null },
    anonymous: false, queue: null, did: null, transferredFrom: null, pending: false,
    template: 'default', fields: { name }, links: {}, matches: [], selected: 0, at: 1,
  };
}

function callState(agent: string, callId: string, state: CallStateMessage['state']): Unstamped<CallStateMessage> {
  return { type: 'call', callId, agent, state, cause: null, at: 2 };
}

/** Hands one message (and its per-role variants) to the hub, as the pop stage does. */
function publish(hub: HubServer, message: { agent: string }, byRole?: ReadonlyMap<string, object>): number {
  return hub.deliver(deliverable(message.agent, message, byRole));
}

describe('WebSocket hub', () => {
  let hub: HubServer;
  let url: string;
  const clients: TestAgentClient[] = [];
  const track = (c: TestAgentClient) => (clients.push(c), c);

  beforeEach(async () => {
    hub = new HubServer({ config: hubConfig(), logger: silentLogger });
    await hub.start();
    url = `ws://127.0.0.1:${hub.port}/ws`;
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await hub.stop(Date.now() + 2000);
  });

  it('delivers a pop to the agent who subscribed to the ringing extension', async () => {
    const alice = track(await TestAgentClient.subscribed(url, 'token-alice-1001', ['1001']));
    assert.equal(publish(hub, pop('1001', 'call-1')), 1);
    const received = await alice.next((m) => m.type === 'pop');
    assert.equal(received.callId, 'call-1');
    assert.equal(received.v, 1);
    assert.deepEqual(received.caller, { number: '+4930123456', name: 'Erika Mustermann' });
  });

  it('numbers every message of a session in sequence', async () => {
    const alice = track(await TestAgentClient.subscribed(url, 'token-alice-1001', ['1001']));
    publish(hub, pop('1001', 'call-1'));
    publish(hub, callState('1001', 'call-1', 'answered'));
    await alice.next((m) => m.type === 'call');
    assert.deepEqual(alice.messages.map((m) => m.seq), [1, 2, 3, 4]);
  });

  it('does not deliver another agent\'s pop', async () => {
    const alice = track(await TestAgentClient.subscribed(url, 'token-alice-1001', ['1001']));
    publish(hub, pop('1002', 'call-2'));
    publish(hub, pop('1001', 'call-3'));
    const received = await alice.next((m) => m.type === 'pop');
    assert.equal(received.callId, 'call-3');
    assert.equal(alice.messages.filter((m) => m.type === 'pop').length, 1);
  });

  it('refuses a subscription the token does not allow', async () => {
    const alice = track(await TestAgentClient.connect(url));
    alice.send({ type: 'hello', v: 1, token: 'token-alice-1001' });
    await alice.next((m) => m.type === 'welcome');
    alice.send({ type: 'subscribe', agents: ['1002'] });
    const error = await alice.next((m) => m.type === 'error');
    assert.equal(error.code, 'CALLPOP_HUB_AUTH');
    assert.match(String(error.message), /may not subscribe to 1002/);
  });

  it('closes the connection on an unknown token with code 4003', async () => {
    const mallory = track(await TestAgentClient.connect(url));
    mallory.send({ type: 'hello', v: 1, token: 'guess' });
    assert.equal(await mallory.closed(), 4003);
  });

  it('refuses another protocol version, saying which one it speaks', async () => {
    const old = track(await TestAgentClient.connect(url));
    old.send({ type: 'hello', v: 99, token: 'token-alice-1001' });
    const error = await old.next((m) => m.type === 'error');
    assert.match(String(error.message), /version 99 is not supported; this server speaks 1/);
    assert.equal(await old.closed(), 4426);
  });

  it('answers malformed messages with an error and keeps the connection', async () => {
    const alice = track(await TestAgentClient.subscribed(url, 'token-alice-1001', ['1001']));
    alice.send('{not json');
    alice.send({ type: 'subscribe', agents: 'all' });
    alice.send({ type: 'launch-missiles' });
    const errors = () => alice.messages.filter((m) => m.type === 'error');
    await alice.next((m) => m.type === 'error' && /unknown message type/.test(String(m.message)));
    assert.equal(errors().length, 3);
    publish(hub, pop('1001', 'still-works'));
    assert.equal((await alice.next((m) => m.type === 'pop')).callId, 'still-works');
  });

  it('rejects a message larger than max_payload_bytes without crashing', async () => {
    const alice = track(await TestAgentClient.subscribed(url, 'token-alice-1001', ['1001']));
    alice.send({ type: 'ack', seq: 1, padding: 'x'.repeat(10_000) });
    assert.equal(await alice.closed(), 1009);
    const bob = track(await TestAgentClient.subscribed(url, 'token-alice-1001', ['1001']));
    publish(hub, pop('1001', 'after'));
    assert.equal((await bob.next((m) => m.type === 'pop')).callId, 'after');
  });

  it('shows a client what the snapshot provider holds for the agents it subscribes to', async () => {
    await hub.stop(Date.now() + 2000);
    const asked: string[][] = [];
    const snapshot: SnapshotProvider = (agents) => {
      asked.push([...agents]);
      return agents.includes('1001') ? [deliverable('1001', pop('1001', 'ringing-call'))] : [];
    };
    hub = new HubServer({ config: hubConfig(), logger: silentLogger, snapshot });
    await hub.start();
    url = `ws://127.0.0.1:${hub.port}/ws`;
    const alice = track(await TestAgentClient.subscribed(url, 'token-alice-1001', ['1001']));
    const received = await alice.next((m) => m.type === 'pop');
    assert.equal(received.callId, 'ringing-call');
    assert.deepEqual(asked, [['1001']]);
  });

  it('replays what a client missed when it resumes its session', async () => {
    const first = await TestAgentClient.subscribed(url, 'token-alice-1001', ['1001']);
    const welcome = await first.next((m) => m.type === 'welcome');
    const lastSeq = first.messages.at(-1)?.seq ?? 0;
    first.close();
    await first.closed();
    publish(hub, pop('1001', 'while-away'));
    publish(hub, callState('1001', 'while-away', 'missed'));

    const again = track(await TestAgentClient.connect(url));
    again.send({ type: 'hello', v: 1, token: 'token-alice-1001', resume: { session: welcome.session, seq: lastSeq } });
    const resumed = await again.next((m) => m.type === 'welcome');
    assert.equal(resumed.resumed, true);
    const missed = await again.next((m) => m.type === 'call');
    assert.equal(missed.state, 'missed');
    const replayed = again.messages.filter((m) => m.type !== 'welcome').map((m) => [m.type, m.seq]);
    assert.deepEqual(replayed, [['pop', lastSeq + 1], ['call', lastSeq + 2]]);
  });

  it('does not resume a session with another token', async () => {
    const first = await TestAgentClient.subscribed(url, 'token-alice-1001', ['1001']);
    const welcome = await first.next((m) => m.type === 'welcome');
    first.close();
    const other = track(await TestAgentClient.connect(url));
    other.send({ type: 'hello', v: 1, token: 'token-supervisor', resume: { session: welcome.session, seq: 0 } });
    const w = await other.next((m) => m.type === 'welcome');
    assert.equal(w.resumed, false);
    assert.notEqual(w.session, welcome.session);
  });

  it('gives each role its own rendering of a pop', async () => {
    const alice = track(await TestAgentClient.subscribed(url, 'token-alice-1001', ['1001']));
    const sup = track(await TestAgentClient.subscribed(url, 'token-supervisor', ['*']));
    const agentView = pop('1001', 'c', 'E****');
    const supervisorView = pop('1001', 'c', 'Erika Mustermann');
    publish(hub, agentView, new Map([['agent', agentView], ['supervisor', supervisorView]]));
    const nameSeenBy = async (client: TestAgentClient) => ((await client.next((m) => m.type === 'pop')).fields as { name: string }).name;
    assert.equal(await nameSeenBy(alice), 'E****');
    assert.equal(await nameSeenBy(sup), 'Erika Mustermann');
  });

  it('drops a client that stops reading instead of buffering without bound', async () => {
    const raw = await rawSubscribedClient(hub.port, 'token-alice-1001', '1001');
    raw.pause(); // a client that never reads: the server's send buffer fills
    const big = 'x'.repeat(3000);
    let delivered = 0;
    for (let i = 0; i < 2000 && hub.connectionCount > 0; i++) {
      delivered += publish(hub, pop('1001', `flood-${i}`, big));
      await new Promise((r) => setImmediate(r));
    }
    assert.equal(hub.connectionCount, 0, `the slow client was not dropped after ${delivered} messages`);
    raw.destroy();
  });

  it('keeps sessions bounded when a client reconnects in a loop without resuming', async () => {
    await hub.stop(Date.now() + 2000);
    hub = new HubServer({ config: hubConfig({ max_connections: 5 }), logger: silentLogger });
    await hub.start();
    url = `ws://127.0.0.1:${hub.port}/ws`;
    for (let i = 0; i < 30; i++) {
      const client = await TestAgentClient.subscribed(url, 'token-alice-1001', ['1001']);
      client.close();
      await client.closed();
    }
    assert.ok(hub.sessionCount <= 10, `${hub.sessionCount} sessions kept`);
  });

  for (const target of ['//[', '//a:b:c', 'http://[', '*']) {
    it(`survives an upgrade request for the target ${target} and keeps serving`, async () => {
      const socket = connect(hub.port, '127.0.0.1');
      await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
      const answer = new Promise<string>((resolve) => {
        let text = '';
        socket.on('data', (chunk) => (text += chunk.toString()));
        socket.on('close', () => resolve(text));
        socket.on('error', () => resolve(text));
      });
      socket.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
      assert.match(await answer, /^HTTP\/1\.1 4\d\d/);
      const alice = track(await TestAgentClient.subscribed(url, 'token-alice-1001', ['1001']));
      assert.equal(publish(hub, pop('1001', 'after-bad-request')), 1);
      assert.equal((await alice.next((m) => m.type === 'pop')).callId, 'after-bad-request');
    });
  }

  it('serves the agent page, which never writes caller data as HTML', async () => {
    const res = await fetch(`http://127.0.0.1:${hub.port}/`);
    const html = await res.text();
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'/);
    assert.doesNotMatch(html, /innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
  });
});


/** Starts a hub with `overrides` on a free loopback port. */
async function startHub(overrides: Partial<HubConfig> = {}, extra: { logger?: Logger; routes?: HubServerOptions['routes'] } = {}): Promise<{ hub: HubServer; url: string }> {
  const hub = new HubServer({ config: hubConfig(overrides), logger: extra.logger ?? silentLogger, ...(extra.routes ? { routes: extra.routes } : {}) });
  await hub.start();
  return { hub, url: `ws://127.0.0.1:${hub.port}/ws` };
}

/** A logger that keeps its warn lines, to check what the hub says (and how often). */
function capturingLogger(): Logger & { warnings: { fields: Record<string, unknown>; msg: string }[] } {
  const warnings: { fields: Record<string, unknown>; msg: string }[] = [];
  const logger = {
    warnings,
    trace() {},
    debug() {},
    info() {},
    warn(obj: object | string, msg?: string) {
      warnings.push(typeof obj === 'string' ? { fields: {}, msg: obj } : { fields: obj as Record<string, unknown>, msg: msg ?? '' });
    },
    error() {},
    child() {
      return logger;
    },
  };
  return logger;
}

/** Opens a WebSocket that never says hello; resolves once open, or with the HTTP status that refused it. */
function silentSocket(url: string, origin?: string): Promise<{ socket: WebSocket; status: number }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, origin ? { origin } : {});
    socket.on('error', () => {});
    socket.once('open', () => resolve({ socket, status: 101 }));
    socket.once('unexpected-response', (_req, res) => resolve({ socket, status: res.statusCode ?? 0 }));
    setTimeout(() => reject(new Error('no answer to the upgrade')), 5000).unref();
  });
}

async function agentIsServed(url: string, hub: HubServer, callId: string): Promise<void> {
  const alice = await TestAgentClient.subscribed(url, 'token-alice-1001', ['1001']);
  try {
    assert.ok(publish(hub, pop('1001', callId)) >= 1);
    assert.equal((await alice.next((m) => m.type === 'pop' && m.callId === callId)).callId, callId);
  } finally {
    alice.close();
  }
}

describe('hub under hostile clients', () => {
  const cleanup: (() => unknown)[] = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });
  const started = async (overrides: Partial<HubConfig> = {}, extra: Parameters<typeof startHub>[1] = {}) => {
    const h = await startHub(overrides, extra);
    cleanup.push(() => h.hub.stop(Date.now() + 2000));
    return h;
  };
  const silent = async (url: string, origin?: string) => {
    const s = await silentSocket(url, origin);
    cleanup.push(() => s.socket.terminate());
    return s;
  };

  describe('sockets that never say hello (issue 13, finding 6)', () => {
    it('admits agents up to max_connections while silent sockets fill the rest', async () => {
      const { hub, url } = await started({ max_connections: 3, max_unauthenticated: 10, hello_timeout_ms: 30_000 });
      for (let i = 0; i < 40; i++) await silent(url);
      const agents: TestAgentClient[] = [];
      cleanup.push(() => agents.forEach((a) => a.close()));
      for (let i = 0; i < 3; i++) agents.push(await TestAgentClient.subscribed(url, 'token-alice-1001', ['1001']));
      assert.equal(publish(hub, pop('1001', 'seen-by-all')), 3);
      assert.ok(hub.stats().unauthenticated <= 10, `${hub.stats().unauthenticated} silent sockets kept`);
    });

    it('makes room for a newcomer by closing the oldest silent socket when max_unauthenticated is full', async () => {
      const { hub, url } = await started({ max_unauthenticated: 5, hello_timeout_ms: 30_000 });
      const first = await silent(url);
      const closed = new Promise<number>((resolve) => first.socket.once('close', resolve));
      for (let i = 0; i < 5; i++) await silent(url);
      assert.equal(await closed, 4001);
      assert.equal(hub.stats().unauthenticatedEvicted, 1);
      assert.equal(hub.stats().unauthenticated, 5);
    });

    it('refuses a remote address past max_unauthenticated_per_address with HTTP 429', async () => {
      const { hub, url } = await started({ max_unauthenticated_per_address: 3, hello_timeout_ms: 30_000 });
      const waiting = [await silent(url), await silent(url), await silent(url)];
      assert.equal((await silent(url)).status, 429);
      assert.equal(hub.stats().unauthenticatedRefused, 1);
      waiting[0]?.socket.terminate();
      await waitFor(() => hub.stats().unauthenticated === 2);
      await agentIsServed(url, hub, 'after-one-left');
    });

    it('closes a socket with 4001 when it sends no hello within hello_timeout_ms, freeing its place', async () => {
      const { hub, url } = await started({ hello_timeout_ms: 150 });
      const { socket } = await silent(url);
      const code = await new Promise<number>((resolve) => socket.once('close', resolve));
      assert.equal(code, 4001);
      assert.equal(hub.stats().helloTimeouts, 1);
      assert.equal(hub.stats().unauthenticated, 0);
    });

    it('waits for hello no longer than a few seconds by default', () => {
      assert.ok(hubConfig({ hello_timeout_ms: undefined as unknown as number }).hello_timeout_ms <= 5000);
    });
  });

  describe('sessions of one token (issue 13, finding 7)', () => {
    it('keeps at most max_sessions_per_token sessions for a token that reconnects in a loop', async () => {
      const { hub, url } = await started({ max_sessions_per_token: 3 });
      for (let i = 0; i < 12; i++) {
        const client = await TestAgentClient.subscribed(url, 'token-alice-1001', ['1001']);
        client.close();
        await client.closed();
      }
      assert.ok(hub.sessionCount <= 3, `${hub.sessionCount} sessions kept`);
      assert.ok(hub.stats().sessionsEvicted >= 9);
    });

    it('refuses a new session with 4409 when every session of the token is live, and the live ones keep working', async () => {
      const { hub, url } = await started({ max_sessions_per_token: 2 });
      const live = [await TestAgentClient.subscribed(url, 'token-alice-1001', ['1001']), await TestAgentClient.subscribed(url, 'token-alice-1001', ['1001'])];
      cleanup.push(() => live.forEach((c) => c.close()));
      const third = await TestAgentClient.connect(url);
      cleanup.push(() => third.close());
      third.send({ type: 'hello', v: 1, token: 'token-alice-1001' });
      const error = await third.next((m) => m.type === 'error');
      assert.equal(error.code, 'CALLPOP_HUB_SESSIONS');
      assert.equal(await third.closed(), 4409);
      assert.equal(hub.stats().sessionsRefused, 1);
      assert.equal(publish(hub, pop('1001', 'still-live')), 2);
    });

    it('evicts the token\'s oldest detached session first', async () => {
      const { hub, url } = await started({ max_sessions_per_token: 2 });
      const oldest = await TestAgentClient.subscribed(url, 'token-alice-1001', ['1001']);
      const oldestId = (await oldest.next((m) => m.type === 'welcome')).session;
      oldest.close();
      await oldest.closed();
      const newer = await TestAgentClient.subscribed(url, 'token-alice-1001', ['1001']);
      const newerWelcome = await newer.next((m) => m.type === 'welcome');
      const newerSeq = newer.messages.at(-1)?.seq ?? 0;
      newer.close();
      await newer.closed();
      // A third session: the token holds two, so the oldest detached one (not the newer) goes.
      const third = await TestAgentClient.subscribed(url, 'token-alice-1001', ['1001']);
      cleanup.push(() => third.close());
      const resumeNewer = await TestAgentClient.connect(url);
      cleanup.push(() => resumeNewer.close());
      resumeNewer.send({ type: 'hello', v: 1, token: 'token-alice-1001', resume: { session: newerWelcome.session, seq: newerSeq } });
      assert.equal((await resumeNewer.next((m) => m.type === 'welcome')).resumed, true);
      assert.equal(hub.stats().sessionsEvicted, 1);
      assert.notEqual(newerWelcome.session, oldestId);
    });

    it('gives a token its own max_sessions over the hub-wide default', async () => {
      const tokens = [{ name: 'wall', token: 'token-wallboard', agents: ['*'], role: 'supervisor', admin: false, max_sessions: 1 }];
      const { url } = await started({ tokens, max_sessions_per_wildcard_token: 50 });
      const first = await TestAgentClient.subscribed(url, 'token-wallboard', ['*']);
      cleanup.push(() => first.close());
      const second = await TestAgentClient.connect(url);
      cleanup.push(() => second.close());
      second.send({ type: 'hello', v: 1, token: 'token-wallboard' });
      assert.equal(await second.closed(), 4409);
    });

    it('bounds the replay buffer of a detached session in bytes, not only in messages', async () => {
      const { hub, url } = await started({ replay_max_messages: 200, replay_max_bytes: 20_000 });
      const client = await TestAgentClient.subscribed(url, 'token-alice-1001', ['1001']);
      const welcome = await client.next((m) => m.type === 'welcome');
      client.close();
      await client.closed();
      for (let i = 0; i < 50; i++) publish(hub, pop('1001', `big-${i}`, 'x'.repeat(2000)));
      // 50 pops of ~4 KB: far under replay_max_messages, far over replay_max_bytes.
      const fromStart = await TestAgentClient.connect(url);
      cleanup.push(() => fromStart.close());
      fromStart.send({ type: 'hello', v: 1, token: 'token-alice-1001', resume: { session: welcome.session, seq: 2 } });
      assert.equal((await fromStart.next((m) => m.type === 'welcome')).resumed, false);
      const recent = await TestAgentClient.connect(url);
      cleanup.push(() => recent.close());
      recent.send({ type: 'hello', v: 1, token: 'token-alice-1001', resume: { session: welcome.session, seq: 49 } });
      assert.equal((await recent.next((m) => m.type === 'welcome')).resumed, true);
      assert.equal((await recent.next((m) => m.type === 'pop' && m.callId === 'big-49')).callId, 'big-49');
      assert.deepEqual(recent.messages.filter((m) => m.type === 'pop').map((m) => m.seq), [50, 51, 52]);
    });
  });

  describe('browser origins and the agent page', () => {
    it('refuses a WebSocket from another site\'s page with HTTP 403', async () => {
      const { hub, url } = await started();
      assert.equal((await silent(url, 'https://evil.example')).status, 403);
      assert.equal(hub.stats().originsRefused, 1);
    });

    it('accepts the agent page\'s own origin and clients that send no Origin', async () => {
      const { hub, url } = await started();
      assert.equal((await silent(url, `http://127.0.0.1:${hub.port}`)).status, 101);
      assert.equal((await silent(url)).status, 101);
    });

    it('accepts an origin listed in allowed_origins', async () => {
      const { url } = await started({ allowed_origins: ['https://crm.example.com'] });
      assert.equal((await silent(url, 'https://crm.example.com')).status, 101);
      assert.equal((await silent(url, 'https://crm.example.com.evil.example')).status, 403);
    });

    it('serves the agent page with a CSP that allows no inline code and no framing', async () => {
      const { hub } = await started();
      const res = await fetch(`http://127.0.0.1:${hub.port}/`);
      const html = await res.text();
      const csp = res.headers.get('content-security-policy') ?? '';
      assert.doesNotMatch(csp, /unsafe-inline/);
      assert.match(csp, /frame-ancestors 'none'/);
      assert.match(csp, /script-src 'self'/);
      assert.equal(res.headers.get('x-frame-options'), 'DENY');
      assert.doesNotMatch(html, /<script>|<style>|\sstyle=|\son\w+=/i);
      assert.match(html, /<script src="\/agent.js"><\/script>/);
      const js = await fetch(`http://127.0.0.1:${hub.port}/agent.js`);
      assert.match(js.headers.get('content-type') ?? '', /^text\/javascript/);
      assert.match(await js.text(), /var WS_PATH = "\/ws";/);
      const css = await fetch(`http://127.0.0.1:${hub.port}/agent.css`);
      assert.match(css.headers.get('content-type') ?? '', /^text\/css/);
    });

    it('lets the origins in frame_ancestors embed the page', async () => {
      const { hub } = await started({ frame_ancestors: ['https://crm.example.com'] });
      const res = await fetch(`http://127.0.0.1:${hub.port}/`);
      assert.match(res.headers.get('content-security-policy') ?? '', /frame-ancestors https:\/\/crm\.example\.com(;|$)/);
      assert.equal(res.headers.get('x-frame-options'), null);
    });
  });

  describe('failed hellos', () => {
    it('refuses every hello from an address with 4429 after auth_failures_max unknown tokens, logging the block once', async () => {
      const logger = capturingLogger();
      const { hub, url } = await started({ auth_failures_max: 3 }, { logger });
      for (let i = 0; i < 8; i++) {
        const guess = await TestAgentClient.connect(url);
        guess.send({ type: 'hello', v: 1, token: `guess-${i}` });
        await guess.closed();
      }
      const real = await TestAgentClient.connect(url);
      cleanup.push(() => real.close());
      real.send({ type: 'hello', v: 1, token: 'token-alice-1001' });
      assert.equal((await real.next((m) => m.type === 'error')).code, 'CALLPOP_HUB_THROTTLED');
      assert.equal(await real.closed(), 4429);
      assert.equal(hub.stats().authFailures, 3);
      assert.equal(hub.stats().hellosThrottled, 6);
      assert.equal(logger.warnings.filter((w) => /blocking hellos/.test(w.msg)).length, 1);
      assert.ok(logger.warnings.every((w) => !JSON.stringify(w).includes('guess-')), 'a presented token was logged');
    });
  });

  describe('malformed and out-of-order messages', () => {
    it('closes a connection that subscribes before hello with 4003 and keeps serving', async () => {
      const { hub, url } = await started();
      const early = await TestAgentClient.connect(url);
      cleanup.push(() => early.close());
      early.send({ type: 'subscribe', agents: ['1001'] });
      assert.equal(await early.closed(), 4003);
      await waitFor(() => hub.stats().unauthenticated === 0);
      await agentIsServed(url, hub, 'after-early-subscribe');
    });

    it('answers an ack for a seq never sent with an error and keeps the replay buffer', async () => {
      const { hub, url } = await started();
      const alice = await TestAgentClient.subscribed(url, 'token-alice-1001', ['1001']);
      const welcome = await alice.next((m) => m.type === 'welcome');
      publish(hub, pop('1001', 'unacked'));
      const popSeq = (await alice.next((m) => m.type === 'pop')).seq;
      alice.send({ type: 'ack', seq: 1_000_000 });
      assert.match(String((await alice.next((m) => m.type === 'error')).message), /ack for seq 1000000/);
      alice.close();
      await alice.closed();
      const again = await TestAgentClient.connect(url);
      cleanup.push(() => again.close());
      again.send({ type: 'hello', v: 1, token: 'token-alice-1001', resume: { session: welcome.session, seq: popSeq - 1 } });
      assert.equal((await again.next((m) => m.type === 'welcome')).resumed, true);
      assert.equal((await again.next((m) => m.type === 'pop')).callId, 'unacked');
    });

    it('does not resume a session from a seq it never sent', async () => {
      const { url } = await started();
      const alice = await TestAgentClient.subscribed(url, 'token-alice-1001', ['1001']);
      const welcome = await alice.next((m) => m.type === 'welcome');
      alice.close();
      await alice.closed();
      const again = await TestAgentClient.connect(url);
      cleanup.push(() => again.close());
      again.send({ type: 'hello', v: 1, token: 'token-alice-1001', resume: { session: welcome.session, seq: Number.MAX_SAFE_INTEGER } });
      const w = await again.next((m) => m.type === 'welcome');
      assert.equal(w.resumed, false);
      assert.notEqual(w.session, welcome.session);
    });

    it('refuses a pick for an agent the token does not allow', async () => {
      const { url } = await started();
      const alice = await TestAgentClient.subscribed(url, 'token-alice-1001', ['1001']);
      cleanup.push(() => alice.close());
      alice.send({ type: 'pick', pbx: 'main', callId: 'c', agent: '1002', index: 1 });
      const error = await alice.next((m) => m.type === 'error');
      assert.equal(error.code, 'CALLPOP_HUB_AUTH');
      assert.match(String(error.message), /may not act for agent 1002/);
    });

    it('refuses a subscribe listing 10,000 extensions and keeps the connection', async () => {
      const { hub, url } = await started({ max_payload_bytes: 200_000 });
      const sup = await TestAgentClient.subscribed(url, 'token-supervisor', ['1001']);
      cleanup.push(() => sup.close());
      sup.send({ type: 'subscribe', agents: Array.from({ length: 10_000 }, (_, i) => String(10_000 + i)) });
      assert.match(String((await sup.next((m) => m.type === 'error')).message), /must NOT have more than 500 items/);
      publish(hub, pop('1001', 'after-huge-subscribe'));
      assert.equal((await sup.next((m) => m.type === 'pop')).callId, 'after-huge-subscribe');
    });

    it('caps the extensions one session subscribes to across several subscribe messages', async () => {
      const { url } = await started({ max_payload_bytes: 65_536 });
      const sup = await TestAgentClient.subscribed(url, 'token-supervisor', ['1001']);
      cleanup.push(() => sup.close());
      for (let batch = 0; batch < 2; batch++) sup.send({ type: 'subscribe', agents: Array.from({ length: 400 }, (_, i) => `${batch}-${i}`) });
      const error = await sup.next((m) => m.type === 'error');
      assert.match(String(error.message), /at most 500 extensions/);
    });

    it('closes a connection that sends a text frame that is not UTF-8 (1007) and keeps serving', async () => {
      const { hub, url } = await started();
      const raw = await rawSubscribedClient(hub.port, 'token-alice-1001', '1001');
      cleanup.push(() => raw.destroy());
      const closed = new Promise<void>((resolve) => raw.once('close', () => resolve()));
      raw.write(maskedFrame(0x1, Buffer.from([0x7b, 0xff, 0xfe, 0x7d])));
      await closed;
      assert.ok(hub.stats().badMessages >= 1);
      await agentIsServed(url, hub, 'after-bad-utf8');
    });

    it('logs a flood of bad messages once, and counts every one', async () => {
      const logger = capturingLogger();
      const { hub, url } = await started({}, { logger });
      const alice = await TestAgentClient.subscribed(url, 'token-alice-1001', ['1001']);
      cleanup.push(() => alice.close());
      for (let i = 0; i < 19; i++) alice.send('x"s3cret"'); // V8 quotes this input in its JSON error
      await waitFor(() => alice.messages.filter((m) => m.type === 'error').length === 19);
      assert.equal(hub.stats().badMessages, 19);
      assert.equal(logger.warnings.filter((w) => w.fields.cause === 'badMessages').length, 1);
      assert.ok(logger.warnings.every((w) => !JSON.stringify(w).includes('s3cret')), 'what the client sent was logged');
    });
  });

  describe('HTTP abuse', () => {
    const answered = { count: 0 };
    const routes: HubServerOptions['routes'] = [
      (req, res) => {
        if (req.url !== '/api/cache/clear') return false;
        answered.count += 1;
        res.end('ok');
        return true;
      },
    ];

    for (const path of ['/', '/api/cache/clear', '/ws', '/metrics']) {
      it(`refuses a POST of 100 MB to ${path} with 413 without reading it, and keeps serving`, async () => {
        const { hub, url } = await started({}, { routes });
        const before = answered.count;
        const socket = connect(hub.port, '127.0.0.1');
        cleanup.push(() => socket.destroy());
        socket.on('error', () => {});
        const answer = collect(socket);
        socket.write(`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\nContent-Length: ${100 * 1024 * 1024}\r\n\r\n`);
        const chunk = Buffer.alloc(64 * 1024, 0x61);
        // Bounded: at most 100 MB in 64 KiB writes, stopping as soon as the server hangs up.
        for (let i = 0; i < 1600 && !socket.destroyed && socket.writable; i++) {
          if (!socket.write(chunk)) await new Promise((r) => { socket.once('drain', r); socket.once('close', r); });
        }
        assert.match(await answer, /^HTTP\/1\.1 413 /);
        assert.equal(answered.count, before, 'the route ran on an oversized request');
        assert.equal(hub.stats().httpBodiesRefused, 1);
        await agentIsServed(url, hub, `after-post-${path}`);
      });
    }

    it('cuts a chunked body that grows past what any route reads', async () => {
      const { hub, url } = await started();
      const socket = connect(hub.port, '127.0.0.1');
      cleanup.push(() => socket.destroy());
      socket.on('error', () => {});
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      socket.write('POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n');
      const chunk = Buffer.alloc(32 * 1024, 0x61);
      // Bounded: at most 100 MB; the server must hang up long before.
      let sent = 0;
      for (; sent < 3200 && !socket.destroyed && socket.writable; sent++) {
        const ok = socket.write(`${chunk.length.toString(16)}\r\n`) && socket.write(chunk) && socket.write('\r\n');
        if (!ok) await new Promise((r) => { socket.once('drain', r); socket.once('close', r); });
      }
      await closed;
      assert.ok(sent < 3200, 'the server read the whole 100 MB body');
      await agentIsServed(url, hub, 'after-chunked');
    });

    it('keeps serving agents and the page while connections trickle their headers (slowloris)', async () => {
      const { hub, url } = await started();
      const slow = Array.from({ length: 50 }, () => {
        const s = connect(hub.port, '127.0.0.1');
        s.on('error', () => {});
        s.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
        return s;
      });
      cleanup.push(() => slow.forEach((s) => s.destroy()));
      for (let round = 0; round < 3; round++) for (const s of slow) s.write('a');
      assert.equal((await fetch(`http://127.0.0.1:${hub.port}/`)).status, 200);
      await agentIsServed(url, hub, 'during-slowloris');
    });
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Everything a socket receives until it closes. */
function collect(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    socket.on('data', (chunk) => (text += chunk.toString('latin1')));
    socket.once('close', () => resolve(text));
  });
}

/** A WebSocket client on a raw socket, so a test can stop reading (ws clients always read). */
async function rawSubscribedClient(port: number, token: string, agent: string): Promise<Socket> {
  const socket = connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.write(
    'GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  );
  await new Promise<void>((resolve) => socket.once('data', () => resolve()));
  socket.on('error', () => {});
  socket.write(maskedTextFrame(JSON.stringify({ type: 'hello', v: 1, token })));
  socket.write(maskedTextFrame(JSON.stringify({ type: 'subscribe', agents: [agent] })));
  await new Promise((r) => setTimeout(r, 100));
  return socket;
}

function maskedTextFrame(text: string): Buffer {
  return maskedFrame(0x1, Buffer.from(text));
}

/** One final, masked client frame (as RFC 6455 requires of clients) with any bytes in it. */
function maskedFrame(opcode: number, payload: Buffer): Buffer {
  assert.ok(payload.length < 126);
  const mask = Buffer.from([1, 2, 3, 4]);
  const masked = Buffer.from(payload.map((b, i) => b ^ (mask[i % 4] ?? 0)));
  return Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | payload.length]), mask, masked]);
}
