import { createHash, randomInt } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import tls from 'node:tls';
import { AmiDecoder, encodeMessage } from '../pbx/asterisk/ami-codec.js';
import type { AmiMessage } from '../pbx/asterisk/ami-codec.js';
import { playTimed } from './play-timed.js';

/**
 * An Asterisk Manager Interface server that speaks the exact wire format of Asterisk 22
 * (AMI 11): greeting line, CRLF framing, Login (plain and MD5 challenge), Ping, Events,
 * Filter, CoreShowChannels lists, Logoff; it replays real captures and plays scripted
 * calls. Tests use it as the PBX; `callpop demo` uses it too.
 */

export interface AmiSimulatorOptions {
  username: string;
  secret: string;
  /** Serve AMI over TLS with this key and certificate (PEM). */
  tls?: { key: string | Buffer; cert: string | Buffer };
  /** Fixed MD5 challenge (default: a random one per Challenge action, as Asterisk does). */
  challenge?: string;
  /** Version in the greeting line. */
  version?: string;
}

/** One frame of a scripted call: bytes to send `atMs` after the scenario starts. */
export interface ScenarioFrame {
  atMs: number;
  data: string;
}

/** What a custom action handler returns: response fields, several blocks, or `'ignore'` (no answer). */
export type AmiActionReply = Record<string, string> | Record<string, string>[] | 'ignore';

export interface AmiSimulatorCounters {
  connections: number;
  logins: number;
  failedLogins: number;
  /** Every action received, by name (Login, Ping, CoreShowChannels...). */
  actions: Record<string, number>;
}

interface Client {
  socket: net.Socket;
  decoder: AmiDecoder;
  loggedIn: boolean;
  challenge: string | null;
  eventMask: string;
}

export class AmiSimulator extends EventEmitter<{ action: [AmiMessage]; login: [] }> {
  readonly counters: AmiSimulatorCounters = { connections: 0, logins: 0, failedLogins: 0, actions: {} };
  /** Every action received, in order (a test checks e.g. the `Events:` mask at login). */
  readonly received: AmiMessage[] = [];
  private readonly options: AmiSimulatorOptions;
  private readonly server: net.Server;
  private readonly clients = new Set<Client>();
  private activeChannels: Record<string, string>[] = [];
  private readonly handlers = new Map<string, (action: AmiMessage) => AmiActionReply>();
  private frozen = false;
  private replays = 0;
  private listeningPort = 0;

  constructor(options: AmiSimulatorOptions) {
    super();
    this.options = options;
    const onConnection = (socket: net.Socket): void => this.accept(socket);
    this.server = options.tls
      ? tls.createServer({ key: options.tls.key, cert: options.tls.cert }, onConnection)
      : net.createServer(onConnection);
    // A TLS handshake failure (client refusing our certificate) is not a simulator error.
    this.server.on('tlsClientError', () => {});
  }

  /** Listens (port 0 = ephemeral) and resolves with the port. */
  listen(port = 0, host = '127.0.0.1'): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        const address = this.server.address();
        this.listeningPort = typeof address === 'object' && address ? address.port : port;
        resolve(this.listeningPort);
      });
    });
  }

  get port(): number {
    return this.listeningPort;
  }

  /** Logged-in clients right now. */
  get loggedInClients(): number {
    let n = 0;
    for (const client of this.clients) if (client.loggedIn) n++;
    return n;
  }

  /** Resolves once `count` logins have happened in total (default: at least one). */
  waitForLogin(timeoutMs: number, count = 1): Promise<void> {
    if (this.counters.logins >= count && this.loggedInClients > 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('login', onLogin);
        reject(new Error(`AMI simulator: no login #${count} within ${timeoutMs} ms (${this.counters.logins} so far)`));
      }, timeoutMs);
      const onLogin = (): void => {
        if (this.counters.logins < count) return;
        clearTimeout(timer);
        this.off('login', onLogin);
        resolve();
      };
      this.on('login', onLogin);
    });
  }

  /**
   * Sends to every logged-in client with events on: raw bytes as they are, or event
   * objects encoded as AMI blocks. Returns how many clients got it.
   */
  send(data: string | Buffer | Record<string, string> | Record<string, string>[]): number {
    const bytes = typeof data === 'string' || Buffer.isBuffer(data) ? data : (Array.isArray(data) ? data : [data]).map((e) => encodeMessage(e)).join('');
    let sent = 0;
    for (const client of this.clients) {
      if (!client.loggedIn || client.eventMask === 'off' || client.socket.destroyed) continue;
      client.socket.write(bytes);
      sent++;
    }
    return sent;
  }

  /**
   * Replays a capture (file path or bytes) to every logged-in client: strips the
   * capture's greeting line and login response, sends the rest in `chunkSize` pieces
   * (default: all at once). `rewriteIds` gives this replay's Uniqueid/Linkedid values a
   * fresh prefix so the same capture can play several times as different calls.
   */
  async replayCapture(source: string | Buffer, options: { chunkSize?: number; rewriteIds?: boolean } = {}): Promise<void> {
    const raw = typeof source === 'string' ? await readFile(source) : source;
    let text = captureBody(raw.toString('utf8'));
    if (options.rewriteIds) text = rewriteCaptureIds(text, ++this.replays);
    const chunkSize = options.chunkSize ?? text.length;
    const bytes = Buffer.from(text, 'utf8');
    for (let offset = 0; offset < bytes.length; offset += Math.max(1, chunkSize)) {
      this.send(bytes.subarray(offset, offset + Math.max(1, chunkSize)));
      if (chunkSize < bytes.length) await new Promise((r) => setImmediate(r));
    }
  }

  /** Plays timed frames (a scripted call); resolves after the last one. */
  playScenario(frames: readonly ScenarioFrame[]): Promise<void> {
    return playTimed(frames, (frame) => this.send(frame.data));
  }

  /** The channels `CoreShowChannels` reports (each a `CoreShowChannel` event's fields). */
  setActiveChannels(channels: Record<string, string>[]): void {
    this.activeChannels = channels.map((c) => ({ ...c }));
  }

  /** Overrides the answer to one action name (e.g. Originate, Getvar, or `'ignore'` for a timeout). */
  onAction(name: string, handler: (action: AmiMessage) => AmiActionReply): void {
    this.handlers.set(name.toLowerCase(), handler);
  }

  /** Stops answering anything while keeping sockets open: a dead peer for keep-alive tests. */
  freeze(frozen = true): void {
    this.frozen = frozen;
  }

  /** Closes every client connection abruptly (Asterisk restart, network cut). */
  dropClients(): void {
    for (const client of this.clients) client.socket.destroy();
    this.clients.clear();
  }

  async close(): Promise<void> {
    this.dropClients();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: net.Socket): void {
    this.counters.connections++;
    // Events are small writes as they happen: without TCP_NODELAY, Nagle's algorithm on this
    // side and delayed ACKs on the client's hold some of them ~40 ms (35 ms p99 measured in
    // bench/pop-latency.ts), a delay that belongs to the simulator, not to callpop.
    socket.setNoDelay(true);
    const client: Client = {
      socket,
      decoder: new AmiDecoder({ expectGreeting: false, maxFrameBytes: 65_536 }),
      loggedIn: false,
      challenge: null,
      eventMask: 'on',
    };
    this.clients.add(client);
    socket.on('error', () => {});
    socket.on('close', () => this.clients.delete(client));
    socket.on('data', (chunk: Buffer) => {
      for (const item of client.decoder.push(chunk)) {
        if (item.type === 'message') this.handleAction(client, item.message);
      }
    });
    socket.write(`Asterisk Call Manager/${this.options.version ?? '11.0.0'}\r\n`);
  }

  private handleAction(client: Client, action: AmiMessage): void {
    if (this.frozen || client.socket.destroyed) return;
    const name = action['Action'] ?? '';
    this.counters.actions[name] = (this.counters.actions[name] ?? 0) + 1;
    this.received.push(action);
    if (this.received.length > 10_000) this.received.shift();
    this.emit('action', action);
    const id = action['ActionID'];
    const reply = (fields: Record<string, string>): void => {
      client.socket.write(encodeMessage(id === undefined ? fields : { Response: fields['Response'] ?? 'Success', ActionID: id, ...fields }));
    };
    const key = name.toLowerCase();
    if (key === 'login') return this.login(client, action, reply);
    if (key === 'challenge') {
      if ((action['AuthType'] ?? '').toLowerCase() !== 'md5') return reply({ Response: 'Error', Message: 'Must specify AuthType' });
      client.challenge = this.options.challenge ?? String(randomInt(100_000_000, 999_999_999));
      return reply({ Response: 'Success', Challenge: client.challenge });
    }
    if (key === 'logoff') {
      reply({ Response: 'Goodbye', Message: 'Thanks for all the fish.' });
      client.socket.end();
      return;
    }
    if (!client.loggedIn) return reply({ Response: 'Error', Message: 'Permission denied' });
    const custom = this.handlers.get(key);
    if (custom) {
      const answer = custom(action);
      if (answer === 'ignore') return;
      for (const block of Array.isArray(answer) ? answer : [answer]) {
        const withId = id === undefined || block['ActionID'] !== undefined ? block : { ...block, ActionID: id };
        client.socket.write(encodeMessage(block['Event'] !== undefined ? withId : { Response: 'Success', ...withId }));
      }
      return;
    }
    switch (key) {
      case 'ping':
        return reply({ Response: 'Success', Ping: 'Pong', Timestamp: (Date.now() / 1000).toFixed(6) });
      case 'events':
        client.eventMask = action['EventMask'] ?? 'on';
        return reply({ Response: 'Success', Events: client.eventMask === 'off' ? 'Off' : 'On' });
      case 'filter':
        return reply({ Response: 'Success', Message: 'Filter Added Successfully' });
      case 'coreshowchannels':
        return this.coreShowChannels(client, id);
      case 'getvar':
        return reply({ Response: 'Success', Variable: action['Variable'] ?? '', Value: '' });
      case 'originate':
        return reply({ Response: 'Success', Message: 'Originate successfully queued' });
      case 'redirect':
      case 'blindtransfer':
      case 'hangup':
      case 'setvar':
        return reply({ Response: 'Success' });
      default:
        return reply({ Response: 'Error', Message: 'Invalid/unknown command' });
    }
  }

  private login(client: Client, action: AmiMessage, reply: (fields: Record<string, string>) => void): void {
    const { username, secret } = this.options;
    const userOk = (action['Username'] ?? '') === username;
    let secretOk: boolean;
    if ((action['AuthType'] ?? '').toLowerCase() === 'md5') {
      const expected = client.challenge ? createHash('md5').update(client.challenge + secret).digest('hex') : null;
      secretOk = expected !== null && (action['Key'] ?? '').toLowerCase() === expected;
    } else {
      secretOk = (action['Secret'] ?? '') === secret;
    }
    if (!userOk || !secretOk) {
      this.counters.failedLogins++;
      reply({ Response: 'Error', Message: 'Authentication failed' });
      // Asterisk closes the session after a failed login.
      client.socket.end();
      return;
    }
    client.loggedIn = true;
    client.eventMask = action['Events'] ?? 'on';
    this.counters.logins++;
    reply({ Response: 'Success', Message: 'Authentication accepted' });
    if (client.eventMask !== 'off') {
      client.socket.write(encodeMessage({ Event: 'FullyBooted', Privilege: 'system,all', Uptime: '1', LastReload: '1', Status: 'Fully Booted' }));
    }
    this.emit('login');
  }

  private coreShowChannels(client: Client, id: string | undefined): void {
    const actionId = id ?? '';
    let out = encodeMessage({ Response: 'Success', ActionID: actionId, EventList: 'start', Message: 'Channels will follow' });
    for (const channel of this.activeChannels) {
      out += encodeMessage({ Event: 'CoreShowChannel', ActionID: actionId, ...channel });
    }
    out += encodeMessage({ Event: 'CoreShowChannelsComplete', ActionID: actionId, EventList: 'Complete', ListItems: String(this.activeChannels.length) });
    client.socket.write(out);
  }
}

/** A capture without its greeting line and login response: what follows a login. */
export function captureBody(text: string): string {
  let body = text;
  if (body.startsWith('Asterisk Call Manager/')) body = body.slice(body.indexOf('\n') + 1);
  if (body.startsWith('Response:')) {
    const end = body.indexOf('\r\n\r\n');
    body = end >= 0 ? body.slice(end + 4) : '';
  }
  return body;
}

/** Gives every `…Uniqueid:`/`…Linkedid:` value of a capture a per-replay epoch so replays never collide. */
export function rewriteCaptureIds(text: string, replay: number): string {
  return text.replace(/^(\w*(?:Uniqueid|Linkedid): )(\d+)\.(\d+)(\r?)$/gm, (_all, key: string, epoch: string, seq: string, cr: string) => {
    return `${key}${Number(epoch) + replay * 100_000}.${seq}${cr}`;
  });
}
