import assert from 'node:assert/strict';
import net from 'node:net';
import { CallpopError } from '../src/model/errors.js';
import type { Logger } from '../src/model/logger.js';
import type { LinkFailureKind, LinkIo, LinkProtocol, LinkSession } from '../src/pbx/reconnecting-link.js';
import { ReconnectingLink } from '../src/pbx/reconnecting-link.js';
import type { PbxStatus } from '../src/pbx/pbx-adapter.js';

/**
 * The shared link with a toy line protocol (`HELLO`, `LOGIN <pw>` -> `OK`/`NO`, `EV <x>`),
 * so what the link decides (policy, stats, protocol errors) is tested apart from AMI/ESL.
 * A line `BAD` makes the toy codec throw, as a real codec does on an invalid frame.
 */

const PASSWORD = 'toy-secret-77';

type Line = { level: string; obj: unknown; msg?: string };
function recordingLogger(lines: Line[]): Logger {
  const make = (): Logger => ({
    trace: (obj, msg) => lines.push({ level: 'trace', obj, msg }),
    debug: (obj, msg) => lines.push({ level: 'debug', obj, msg }),
    info: (obj, msg) => lines.push({ level: 'info', obj, msg }),
    warn: (obj, msg) => lines.push({ level: 'warn', obj, msg }),
    error: (obj, msg) => lines.push({ level: 'error', obj, msg }),
    child: () => make(),
  });
  return make();
}

/** A toy PBX: greets, checks the password, then sends whatever the test pushes. */
class ToyServer {
  readonly sockets = new Set<net.Socket>();
  logins = 0;
  private readonly server: net.Server;

  constructor(private readonly password: string) {
    this.server = net.createServer((socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => {});
      socket.write('HELLO\n');
      socket.on('data', (d) => {
        if (!d.toString().startsWith('LOGIN ')) return;
        this.logins++;
        if (d.toString().trim() === `LOGIN ${this.password}`) socket.write('OK\n');
        else socket.end('NO\n');
      });
    });
  }

  async listen(): Promise<number> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
    return (this.server.address() as net.AddressInfo).port;
  }

  send(text: string): void {
    for (const s of this.sockets) s.write(text);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

function toyProtocol(password: string, events: string[]): LinkProtocol {
  const err = (msg: string): CallpopError => new CallpopError('CALLPOP_ESL_CONNECT', msg);
  return {
    name: 'TOY',
    errors: {
      socket: (e) => err(`toy socket ${e.code ?? e.message}`),
      closed: (stage) => new CallpopError('CALLPOP_ESL_DISCONNECTED', `toy closed at ${stage}`),
      connectTimeout: (ms) => err(`toy no greeting in ${ms}`),
      idle: (ms) => new CallpopError('CALLPOP_ESL_DISCONNECTED', `toy idle ${ms}`),
      protocol: (cause) => (cause instanceof CallpopError ? cause : new CallpopError('CALLPOP_ESL_FRAME', String(cause))),
      stopped: () => new CallpopError('CALLPOP_ESL_DISCONNECTED', 'toy stopped'),
      aborted: () => err('toy aborted'),
    },
    open(io: LinkIo): LinkSession {
      let buffered = '';
      return {
        data(chunk) {
          buffered += chunk.toString();
          let nl: number;
          while ((nl = buffered.indexOf('\n')) >= 0 && io.alive) {
            const line = buffered.slice(0, nl);
            buffered = buffered.slice(nl + 1);
            if (line === 'BAD') throw new CallpopError('CALLPOP_ESL_FRAME', 'toy frame with an invalid length');
            io.countFrames(1);
            if (line === 'HELLO') {
              io.greeted();
              io.write(`LOGIN ${password}\n`);
            } else if (line === 'OK') io.ready();
            else if (line === 'NO') io.fail(new CallpopError('CALLPOP_ESL_AUTH', 'toy login refused'), 'auth');
            else if (line.startsWith('EV ')) events.push(line.slice(3));
          }
        },
        closed() {},
      };
    },
  };
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function until(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('reconnecting link (shared by AMI and ESL)', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  function link(port: number, password: string, events: string[] = [], lines: Line[] = [], reconnect = { initialMs: 500, maxMs: 30_000 }): ReconnectingLink {
    const l = new ReconnectingLink({
      pbxId: 'toy',
      host: '127.0.0.1',
      port,
      connectTimeoutMs: 2000,
      reconnect,
      pingIntervalMs: 0,
      idleTimeoutMs: 0,
      logger: recordingLogger(lines),
      protocol: toyProtocol(password, events),
    });
    cleanup.push(() => l.stop());
    return l;
  }

  it('counts connects, bytes and frames of a session', async () => {
    const server = new ToyServer(PASSWORD);
    const port = await server.listen();
    cleanup.push(() => server.close());
    const events: string[] = [];
    const l = link(port, PASSWORD, events);
    l.start();
    await until(() => l.connected, 'the login');
    server.send('EV one\nEV two\n');
    await until(() => events.length === 2, 'two events');
    const stats = l.stats();
    assert.equal(stats.connectAttempts, 1);
    assert.equal(stats.connects, 1);
    assert.equal(stats.framesIn, 4, 'HELLO, OK and two events');
    assert.equal(stats.bytesIn, 'HELLO\nOK\nEV one\nEV two\n'.length);
    assert.equal(stats.protocolErrors, 0);
  });

  it('treats a codec that throws as a protocol error: one log line, counted, reconnected at once', async () => {
    const server = new ToyServer(PASSWORD);
    const port = await server.listen();
    cleanup.push(() => server.close());
    const lines: Line[] = [];
    const events: string[] = [];
    const l = link(port, PASSWORD, events, lines);
    const downs: LinkFailureKind[] = [];
    const statuses: PbxStatus[] = [];
    l.on('down', (_e, kind) => downs.push(kind));
    l.on('status', (s) => statuses.push(s));
    l.start();
    await until(() => l.connected, 'the login');
    server.send('BAD\nEV after-bad-in-same-chunk\n');
    await until(() => l.stats().connects === 2 && l.connected, 'the reconnect');
    assert.deepEqual(downs, ['protocol']);
    assert.deepEqual(events, [], 'nothing decoded past the bad frame');
    const stats = l.stats();
    assert.equal(stats.protocolErrors, 1);
    assert.equal(stats.disconnects, 1);
    assert.equal(statuses.find((s) => s.state === 'disconnected')?.retryInMs, 0, 'reconnect scheduled at once');
    const errorLines = lines.filter((x) => x.level === 'error');
    assert.equal(errorLines.length, 1);
    assert.equal((errorLines[0]?.obj as { code?: string }).code, 'CALLPOP_ESL_FRAME');
  });

  it('probes a closed port at least once a second, and a refused login far less often', async () => {
    const closed = link(await freePort(), PASSWORD);
    const server = new ToyServer(PASSWORD);
    const port = await server.listen();
    cleanup.push(() => server.close());
    const lines: Line[] = [];
    const refused = link(port, 'wrong-' + PASSWORD, [], lines);
    closed.start();
    refused.start();
    await new Promise((r) => setTimeout(r, 3000));
    const probes = closed.stats().connectAttempts;
    const logins = refused.stats().connectAttempts;
    // Closed: attempts at 0 and then at most 0.5, 1, 1, 1 s apart -> 4 in 3 s.
    assert.ok(probes >= 4, `${probes} connect attempts to a closed port in 3 s`);
    // Refused login: 0, then >= 0.8 s, then >= 1.6 s later -> at most 3 in 3 s.
    assert.ok(logins <= 3 && logins >= 1, `${logins} login attempts in 3 s`);
    assert.equal(refused.stats().authFailures, server.logins);
    assert.ok(!JSON.stringify(lines).includes(PASSWORD), 'the password is never logged');
  });

  it('logs a failure that repeats at warn once, then at debug', async () => {
    const lines: Line[] = [];
    const l = link(await freePort(), PASSWORD, [], lines, { initialMs: 20, maxMs: 100 });
    l.start();
    await until(() => l.stats().connectAttempts >= 5, 'five attempts');
    const warns = lines.filter((x) => x.level === 'warn');
    const debugs = lines.filter((x) => x.level === 'debug');
    assert.equal(warns.length, 1);
    assert.ok(debugs.length >= 3, `${debugs.length} debug lines`);
  });
});
