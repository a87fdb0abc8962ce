import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import { EslDecoder, headerText, type EslEvent } from '../pbx/freeswitch/esl-codec.js';
import type { EslScenarioPhase } from './esl-inbound-call.js';
import { playTimed } from './play-timed.js';

/**
 * A FreeSWITCH Event Socket server that speaks the exact wire format of mod_event_socket
 * (auth/request, command/reply, api/response, text/event-plain, text/event-json,
 * text/disconnect-notice, text/rude-rejection) and replays the real captures in
 * test/fixtures/freeswitch/. Used by the tests and the demo; listens on loopback only.
 */

/** A directory user allowed to `userauth` (mod_event_socket's esl-* params). */
export interface EslSimulatorUser {
  /** `esl-password`. */
  password: string;
  /** `esl-allowed-events`: event names and CUSTOM subclasses; absent = all. */
  allowedEvents?: readonly string[];
  /** `esl-allowed-api`: api command names; absent = all. */
  allowedApi?: readonly string[];
}

export interface EslSimulatorOptions {
  password: string;
  /** `user@domain` -> user, for `userauth`. */
  users?: Record<string, EslSimulatorUser>;
  /** Answer every connection with text/rude-rejection, as an ACL refusal does. */
  rejectConnections?: boolean;
  /** Never send auth/request (a port that is not an Event Socket). */
  silent?: boolean;
}

export interface EslSimulatorCounters {
  connections: number;
  authOk: number;
  authFailed: number;
  commands: number;
  apiCalls: number;
  eventsSent: number;
  bytesSent: number;
}

interface Client {
  socket: net.Socket;
  buffer: string;
  authed: boolean;
  format: 'plain' | 'json' | null;
  /** `ALL` or event names / CUSTOM subclasses. */
  subscription: Set<string>;
  filters: Array<{ header: string; value: string }>;
  /** Set by `userauth` for a user with esl-allowed-events / esl-allowed-api. */
  allowedEvents?: ReadonlySet<string>;
  allowedApi?: ReadonlySet<string>;
}

const DISCONNECT_NOTICE = 'Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n';

export class EslSimulator {
  readonly counters: EslSimulatorCounters = { connections: 0, authOk: 0, authFailed: 0, commands: 0, apiCalls: 0, eventsSent: 0, bytesSent: 0 };
  /** Every command line received (the `auth` password is masked). */
  readonly commandLog: string[] = [];
  private readonly options: EslSimulatorOptions;
  private readonly server: net.Server;
  private readonly clients = new Set<Client>();
  private channelsJson = '{"row_count":0}';
  private waiters: Array<{ check: () => boolean; resolve: () => void }> = [];

  constructor(options: EslSimulatorOptions) {
    this.options = options;
    this.server = net.createServer((socket) => this.onConnection(socket));
  }

  /** Starts listening; resolves with the port (0 = ephemeral). */
  listen(port = 0, host = '127.0.0.1'): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve(this.port);
      });
    });
  }

  get port(): number {
    const address = this.server.address();
    return address && typeof address === 'object' ? address.port : 0;
  }

  /** Clients that authenticated and subscribed. */
  get subscribedClients(): number {
    let n = 0;
    for (const c of this.clients) if (c.authed && c.format) n++;
    return n;
  }

  get connectedClients(): number {
    return this.clients.size;
  }

  /** Resolves once a client has authenticated (or already has). */
  waitForAuth(timeoutMs = 5000): Promise<void> {
    return this.waitFor(() => [...this.clients].some((c) => c.authed), timeoutMs, 'an authenticated ESL client');
  }

  /** Resolves once `count` clients are authenticated and subscribed to events. */
  waitForSubscription(timeoutMs = 5000, count = 1): Promise<void> {
    return this.waitFor(() => this.subscribedClients >= count, timeoutMs, `${count} subscribed ESL client(s)`);
  }

  /** The JSON `api show channels as json` (and `show calls as json`) answers. */
  setChannels(json: string | object): void {
    this.channelsJson = typeof json === 'string' ? json : JSON.stringify(json);
  }

  /** Writes raw bytes (or frames) to every authenticated client, as they are. */
  send(frames: Buffer | string | ReadonlyArray<Buffer | string>): void {
    const list = Array.isArray(frames) ? frames : [frames as Buffer | string];
    const bytes = Buffer.concat(list.map((f) => (typeof f === 'string' ? Buffer.from(f, 'utf8') : f)));
    for (const client of this.clients) {
      if (!client.authed) continue;
      this.write(client, bytes);
    }
  }

  /** Sends events to every subscribed client, each in the client's format and subscription. */
  sendEvents(events: readonly EslEvent[]): number {
    let sent = 0;
    for (const client of this.clients) {
      if (!client.authed || !client.format) continue;
      const parts: Buffer[] = [];
      for (const event of events) {
        if (!wants(client, event)) continue;
        parts.push(encodeEventFrame(event, client.format));
        sent++;
      }
      if (parts.length) this.write(client, Buffer.concat(parts));
    }
    this.counters.eventsSent += sent;
    return sent;
  }

  /**
   * Sends each phase's events `atMs` after the start, stamped with the time they are sent
   * (`Event-Date-Timestamp`, in µs), as a live FreeSWITCH stamps its events.
   */
  playScenario(phases: readonly EslScenarioPhase[]): Promise<void> {
    return playTimed(phases, (phase) => {
      const nowUs = String(Date.now() * 1000);
      this.sendEvents(phase.events.map((e) => ({ ...e, headers: { ...e.headers, 'Event-Date-Timestamp': nowUs } })));
    });
  }

  /**
   * Replays a capture (a full ESL byte stream from connect): drops the leading auth/request
   * and the capture harness's own command/reply frames, keeps every event. A client whose
   * format matches the capture's gets the captured bytes unchanged; another gets each event
   * re-encoded in its format. Events outside a client's subscription are left out.
   * `chunkSize` splits the bytes into writes of that size (a read boundary stress).
   */
  async replayCapture(fileOrBuffer: string | Buffer, options: { chunkSize?: number } = {}): Promise<number> {
    const capture = typeof fileOrBuffer === 'string' ? await readFile(fileOrBuffer) : fileOrBuffer;
    const frames = splitCaptureFrames(capture);
    let sent = 0;
    const writes: Array<Promise<void>> = [];
    for (const client of this.clients) {
      if (!client.authed || !client.format) continue;
      const parts: Buffer[] = [];
      for (const frame of frames) {
        if (!frame.event || !wants(client, frame.event)) continue;
        parts.push(frame.format === client.format ? frame.raw : encodeEventFrame(frame.event, client.format));
        sent++;
      }
      writes.push(this.writeChunked(client, Buffer.concat(parts), options.chunkSize));
    }
    await Promise.all(writes);
    this.counters.eventsSent += sent;
    return sent;
  }

  /** Closes every client connection abruptly (a FreeSWITCH restart or a network cut). */
  dropClients(): void {
    for (const client of this.clients) client.socket.destroy();
    this.clients.clear();
  }

  /** Sends text/disconnect-notice to every client and closes them (a clean shutdown). */
  disconnectClients(): void {
    for (const client of this.clients) {
      this.write(client, frame({ 'Content-Type': 'text/disconnect-notice' }, DISCONNECT_NOTICE));
      client.socket.end();
    }
  }

  async close(): Promise<void> {
    this.dropClients();
    for (const waiter of this.waiters) waiter.resolve();
    this.waiters = [];
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ---------------------------------------------------------------------------------------

  private onConnection(socket: net.Socket): void {
    this.counters.connections++;
    socket.setNoDelay(true);
    socket.on('error', () => {});
    if (this.options.rejectConnections) {
      socket.end(frame({ 'Content-Type': 'text/rude-rejection' }, 'Access Denied, go away.\n'));
      return;
    }
    const client: Client = { socket, buffer: '', authed: false, format: null, subscription: new Set(), filters: [] };
    this.clients.add(client);
    socket.on('close', () => {
      this.clients.delete(client);
      this.notify();
    });
    socket.on('data', (chunk: Buffer) => {
      client.buffer += chunk.toString('utf8');
      if (client.buffer.length > 1_000_000) {
        socket.destroy();
        return;
      }
      let end: number;
      while ((end = client.buffer.indexOf('\n\n')) >= 0) {
        const text = client.buffer.slice(0, end);
        client.buffer = client.buffer.slice(end + 2);
        this.onCommand(client, text);
      }
    });
    if (!this.options.silent) this.write(client, frame({ 'Content-Type': 'auth/request' }));
  }

  private onCommand(client: Client, text: string): void {
    this.counters.commands++;
    const [line = '', ...extra] = text.split('\n');
    const space = line.indexOf(' ');
    const verb = (space < 0 ? line : line.slice(0, space)).trim();
    const rest = space < 0 ? '' : line.slice(space + 1);
    this.commandLog.push(verb === 'auth' ? 'auth ********' : verb === 'userauth' ? `userauth ${rest.split(':')[0]}:********` : line);
    if (!client.authed) {
      if (verb === 'userauth') {
        this.userauth(client, rest);
        return;
      }
      if (verb === 'auth' && rest === this.options.password) {
        client.authed = true;
        this.counters.authOk++;
        this.reply(client, '+OK accepted');
        this.notify();
      } else if (verb === 'auth') {
        this.counters.authFailed++;
        // mod_event_socket: "-ERR invalid", then the listener stops and says goodbye.
        this.reply(client, '-ERR invalid');
        this.write(client, frame({ 'Content-Type': 'text/disconnect-notice' }, DISCONNECT_NOTICE));
        client.socket.end();
      } else {
        this.reply(client, '-ERR command not found');
      }
      return;
    }
    switch (verb) {
      case 'event': {
        const [format = '', ...names] = rest.split(/\s+/).filter(Boolean);
        if (format !== 'plain' && format !== 'json') {
          this.reply(client, '-ERR invalid format');
          return;
        }
        // mod_event_socket checks each name (and each subclass after CUSTOM) against
        // esl-allowed-events and refuses the whole command on the first one not allowed.
        if (client.allowedEvents && names.some((n) => !client.allowedEvents!.has(n) && !client.allowedEvents!.has('ALL'))) {
          this.reply(client, '-ERR permission denied');
          return;
        }
        client.format = format;
        for (const name of names) client.subscription.add(name === 'all' ? 'ALL' : name);
        this.reply(client, `+OK event listener enabled ${format}`);
        this.notify();
        return;
      }
      case 'filter': {
        const sp = rest.indexOf(' ');
        const header = sp < 0 ? rest : rest.slice(0, sp);
        const value = sp < 0 ? '' : rest.slice(sp + 1);
        client.filters.push({ header, value });
        this.reply(client, `+OK filter added. [${header}]=[${value}]`);
        return;
      }
      case 'api':
        if (client.allowedApi && !client.allowedApi.has(rest.split(' ')[0] ?? '')) {
          this.reply(client, '-ERR permission denied');
          return;
        }
        this.counters.apiCalls++;
        this.write(client, frame({ 'Content-Type': 'api/response' }, this.api(rest)));
        return;
      case 'bgapi': {
        this.counters.apiCalls++;
        const jobHeader = extra.find((l) => l.startsWith('Job-UUID: '));
        const jobUuid = jobHeader ? jobHeader.slice('Job-UUID: '.length) : randomUUID();
        this.write(client, frame({ 'Content-Type': 'command/reply', 'Reply-Text': `+OK Job-UUID: ${jobUuid}`, 'Job-UUID': jobUuid }));
        const result = this.api(rest);
        setImmediate(() => {
          this.sendEvents([
            {
              name: 'BACKGROUND_JOB',
              headers: { 'Event-Name': 'BACKGROUND_JOB', 'Job-UUID': jobUuid, 'Job-Command': rest.split(' ')[0] ?? '', 'Content-Length': String(Buffer.byteLength(result)) },
              body: result,
            },
          ]);
        });
        return;
      }
      case 'exit':
        this.reply(client, '+OK bye');
        this.write(client, frame({ 'Content-Type': 'text/disconnect-notice' }, DISCONNECT_NOTICE));
        client.socket.end();
        return;
      case 'noevents':
        client.format = null;
        client.subscription.clear();
        this.reply(client, '+OK no longer listening for events');
        return;
      default:
        this.reply(client, '-ERR command not found');
    }
  }

  /** `userauth user@domain:password`, answered as mod_event_socket does (Allowed-* headers). */
  private userauth(client: Client, rest: string): void {
    const colon = rest.indexOf(':');
    const name = colon < 0 ? rest : rest.slice(0, colon);
    const user = this.options.users?.[name];
    if (!user || colon < 0 || rest.slice(colon + 1) !== user.password) {
      this.counters.authFailed++;
      this.reply(client, '-ERR invalid');
      this.write(client, frame({ 'Content-Type': 'text/disconnect-notice' }, DISCONNECT_NOTICE));
      client.socket.end();
      return;
    }
    client.authed = true;
    if (user.allowedEvents) client.allowedEvents = new Set(user.allowedEvents);
    if (user.allowedApi) client.allowedApi = new Set(user.allowedApi);
    this.counters.authOk++;
    this.write(
      client,
      frame({
        'Content-Type': 'command/reply',
        'Reply-Text': '+OK accepted',
        'Allowed-Events': user.allowedEvents?.join(',') ?? 'all',
        'Allowed-API': user.allowedApi?.join(',') ?? 'all',
        'Allowed-LOG': 'true',
      }),
    );
    this.notify();
  }

  private api(command: string): string {
    const cmd = command.trim();
    if (cmd === 'show channels as json' || cmd === 'show calls as json') return this.channelsJson;
    if (cmd === 'status') return 'UP 0 years, 0 days, 0 hours, 0 minutes, 1 second, 0 milliseconds, 0 microseconds\nFreeSWITCH (Version 1.11.2 simulator) is ready\n';
    return `-ERR ${cmd.split(' ')[0] ?? ''} Command not found!\n`;
  }

  private reply(client: Client, text: string): void {
    this.write(client, frame({ 'Content-Type': 'command/reply', 'Reply-Text': text }));
  }

  private write(client: Client, bytes: Buffer): void {
    if (client.socket.destroyed) return;
    this.counters.bytesSent += bytes.length;
    client.socket.write(bytes);
  }

  private async writeChunked(client: Client, bytes: Buffer, chunkSize?: number): Promise<void> {
    if (!chunkSize || chunkSize >= bytes.length) {
      this.write(client, bytes);
      return;
    }
    for (let offset = 0; offset < bytes.length; offset += chunkSize) {
      if (client.socket.destroyed) return;
      const ok = client.socket.write(bytes.subarray(offset, offset + chunkSize));
      this.counters.bytesSent += Math.min(chunkSize, bytes.length - offset);
      if (!ok) await new Promise<void>((resolve) => client.socket.once('drain', () => resolve()));
    }
  }

  private waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`ESL simulator: no ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = {
        check,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      this.waiters.push(waiter);
    });
  }

  private notify(): void {
    const ready = this.waiters.filter((w) => w.check());
    this.waiters = this.waiters.filter((w) => !ready.includes(w));
    for (const w of ready) w.resolve();
  }
}

function wants(client: Client, event: EslEvent): boolean {
  const sub = client.subscription;
  const subscribed =
    sub.has('ALL') || sub.has(event.name) || (event.name === 'CUSTOM' && sub.has(headerText(event.headers, 'Event-Subclass') ?? '\u0000'));
  if (!subscribed) return false;
  if (client.filters.length === 0) return true;
  // mod_event_socket: with filters set, an event passes when one of them matches.
  return client.filters.some((f) => headerText(event.headers, f.header) === f.value);
}

/** One outer frame: headers (not encoded), blank line, body counted in bytes. */
function frame(headers: Record<string, string>, body?: string | Buffer): Buffer {
  const bodyBytes = body === undefined ? undefined : typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  let head = '';
  if (bodyBytes) head += `Content-Length: ${bodyBytes.length}\n`;
  for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\n`;
  head += '\n';
  return bodyBytes ? Buffer.concat([Buffer.from(head, 'utf8'), bodyBytes]) : Buffer.from(head, 'utf8');
}

/**
 * %-encodes a header value the way FreeSWITCH's plain serialiser does: UTF-8 byte by byte,
 * leaving `,` `'` `(` `)` `/` `.` `-` `_` as they are (README gotcha 6).
 */
export function fsUrlEncode(value: string): string {
  return encodeURIComponent(value)
    .replace(/%2C/g, ',')
    .replace(/%2F/g, '/')
    .replace(/[!~*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Encodes one event as a full ESL frame in `format` (what FreeSWITCH sends a subscriber). */
export function encodeEventFrame(event: EslEvent, format: 'plain' | 'json'): Buffer {
  if (format === 'json') {
    const obj: Record<string, unknown> = { ...event.headers };
    if (event.body !== undefined) {
      obj['Content-Length'] = String(Buffer.byteLength(event.body));
      obj._body = event.body;
    }
    return frame({ 'Content-Type': 'text/event-json' }, JSON.stringify(obj));
  }
  let body = '';
  for (const [k, v] of Object.entries(event.headers)) {
    if (k === 'Content-Length' && event.body !== undefined) continue;
    if (v === null) continue; // the plain format has no null
    body += `${k}: ${fsUrlEncode(String(v))}\n`;
  }
  if (event.body !== undefined) {
    body += `Content-Length: ${Buffer.byteLength(event.body)}\n\n${event.body}`;
  } else {
    body += '\n';
  }
  return frame({ 'Content-Type': 'text/event-plain' }, body);
}

interface CaptureFrame {
  raw: Buffer;
  contentType: string;
  format?: 'plain' | 'json';
  event?: EslEvent;
}

/** Splits a capture into its frames, keeping each frame's exact bytes beside its decoded event. */
export function splitCaptureFrames(capture: Buffer): CaptureFrame[] {
  const frames: CaptureFrame[] = [];
  let offset = 0;
  while (offset < capture.length) {
    const end = capture.indexOf('\n\n', offset, 'latin1');
    if (end < 0) break;
    const head = capture.toString('utf8', offset, end);
    const lengthMatch = /(?:^|\n)Content-Length: (\d+)/.exec(head);
    const typeMatch = /(?:^|\n)Content-Type: ([^\n]+)/.exec(head);
    const length = lengthMatch ? Number(lengthMatch[1]) : 0;
    const stop = Math.min(capture.length, end + 2 + length);
    const raw = capture.subarray(offset, stop);
    offset = stop;
    const contentType = typeMatch?.[1] ?? '';
    const item: CaptureFrame = { raw, contentType };
    if (contentType === 'text/event-plain' || contentType === 'text/event-json') {
      const decoded = new EslDecoder({ maxFrameBytes: Number.MAX_SAFE_INTEGER }).push(raw).find((m) => m.type === 'event');
      if (decoded && decoded.type === 'event') {
        item.event = decoded.event;
        item.format = decoded.format;
      }
    }
    frames.push(item);
  }
  return frames;
}

/** The events of a capture file, decoded (auth and the harness's own command replies dropped). */
export function captureEvents(capture: Buffer): EslEvent[] {
  return splitCaptureFrames(capture).flatMap((f) => (f.event ? [f.event] : []));
}
