import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { withSchemaDefaults } from '../src/config/schema-ajv.js';
import { deliverable } from '../src/hub/deliverable.js';
import { hubConfigSchema, type HubConfig } from '../src/hub/hub-config.js';
import { HubServer, type SnapshotProvider } from '../src/hub/hub-server.js';
import type { CallStateMessage, PopMessage, Unstamped } from '../src/hub/protocol.js';
import { silentLogger } from '../src/model/logger.js';
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
  const payload = Buffer.from(text);
  assert.ok(payload.length < 126);
  const mask = Buffer.from([1, 2, 3, 4]);
  const masked = Buffer.from(payload.map((b, i) => b ^ (mask[i % 4] ?? 0)));
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]);
}
