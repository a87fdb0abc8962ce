import { createHash, randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { CallpopError, describeError } from '../../model/errors.js';
import type { Logger } from '../../model/logger.js';
import type { LinkStats, PbxStatus } from '../pbx-adapter.js';
import type { LinkErrors, LinkIo, LinkProtocol, LinkSession, LinkStage, LinkTlsOptions } from '../reconnecting-link.js';
import { ReconnectingLink } from '../reconnecting-link.js';
import type { AmiActionFields, AmiMessage } from './ami-codec.js';
import { AmiDecoder, encodeAction } from './ami-codec.js';

/**
 * One AMI client connection: greeting, login (plain or MD5 challenge), keep-alive Ping and
 * actions correlated by ActionID with a timeout. Socket, TLS, reconnect, status and
 * statistics are the shared ReconnectingLink's; the codec does the framing. It knows
 * nothing of calls.
 */

export type AmiTlsOptions = LinkTlsOptions;

/** Complete options (the schema's defaults applied): see `connectionOptions` in index.ts. */
export interface AmiConnectionOptions {
  pbxId: string;
  host: string;
  port: number;
  username: string;
  /** Never logged, never put in an error message. */
  secret: string;
  auth: 'plain' | 'md5';
  /** Present: connect with TLS (Asterisk's `tlsenable`, port 5039 by convention). */
  tls?: AmiTlsOptions;
  /** `Events:` mask sent with Login (`on`, `off`, `call,agent`...). */
  events: string;
  /** `Action: Filter` expressions added after login (need `system` write permission). */
  filters: readonly string[];
  maxFrameBytes: number;
  connectTimeoutMs: number;
  actionTimeoutMs: number;
  /** 0 disables keep-alive. */
  pingIntervalMs: number;
  pingTimeoutMs: number;
  reconnect: { initialMs: number; maxMs: number };
  logger: Logger;
}

export interface AmiConnectionEvents {
  /** An unsolicited event (or one whose ActionID is not a pending action of ours). `at` is receive time. */
  event: [AmiMessage, number];
  /** Logged in (after every reconnect); events flow from here on. */
  connected: [];
  disconnected: [CallpopError];
  status: [PbxStatus];
}

export interface AmiListResult {
  response: AmiMessage;
  events: AmiMessage[];
  /** List events past `maxEvents` were dropped: `events` is not the whole list. */
  truncated?: boolean;
}

interface PendingAction {
  name: string;
  resolve(value: AmiListResult): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
  /** Set for list actions: events are collected until this event name (or `EventList: Complete`). */
  completeEvent?: string;
  response?: AmiMessage;
  events: AmiMessage[];
  /** Bound on collected list events, so a runaway list cannot grow memory. */
  maxEvents: number;
  truncated?: boolean;
  cleanup?: () => void;
}

type SendOptions = { timeoutMs?: number; signal?: AbortSignal; completeEvent?: string; maxEvents?: number };

/** A per-call bound of `actionList`, not a config default: callers pass `maxEvents` for less. */
const DEFAULT_LIST_EVENTS = 100_000;

export class AmiConnection extends EventEmitter<AmiConnectionEvents> {
  readonly pbxId: string;
  private readonly options: AmiConnectionOptions;
  private readonly logger: Logger;
  private readonly link: ReconnectingLink;
  /** The live session's I/O; null between sessions. */
  private io: LinkIo | null = null;
  private readonly pending = new Map<string, PendingAction>();
  /** Per-connection ActionID prefix: another client's ActionIDs (`drv-2`) never match ours. */
  private readonly idPrefix = `callpop-${randomBytes(4).toString('hex')}-`;
  private nextId = 1;

  constructor(options: AmiConnectionOptions) {
    super();
    this.pbxId = options.pbxId;
    this.options = options;
    this.logger = options.logger.child({ pbx: options.pbxId });
    this.link = new ReconnectingLink({
      pbxId: options.pbxId,
      host: options.host,
      port: options.port,
      ...(options.tls ? { tls: options.tls } : {}),
      connectTimeoutMs: options.connectTimeoutMs,
      reconnect: options.reconnect,
      pingIntervalMs: options.pingIntervalMs,
      // Asterisk sends nothing on a quiet link; the Ping above is the liveness check.
      idleTimeoutMs: 0,
      logger: this.logger,
      protocol: this.protocol(),
    });
    this.link.on('up', () => {
      this.logger.info({ address: this.address, tls: Boolean(options.tls) }, 'AMI logged in');
      this.addFilters();
      this.emit('connected');
    });
    this.link.on('down', (err) => this.emit('disconnected', err));
    this.link.on('status', (status) => this.emit('status', status));
  }

  /** `host:port` as users write it, for messages. */
  get address(): string {
    return this.link.address;
  }

  get connected(): boolean {
    return this.link.connected;
  }

  /** The link's counters (connects, bytes, frames...), for /metrics. */
  linkStats(): LinkStats {
    return this.link.stats();
  }

  /** Connects and keeps reconnecting until `stop()` (reconnect-policy.ts). Never throws. */
  start(): void {
    this.link.start();
  }

  /**
   * Connects once and logs in; resolves when logged in, rejects with the first failure
   * (no reconnect). For `callpop check`; call `stop()` afterwards.
   */
  connectOnce(signal?: AbortSignal): Promise<void> {
    return this.link.connectOnce(signal);
  }

  /** Logs off (best effort), closes, cancels reconnects, fails pending actions. */
  async stop(): Promise<void> {
    await this.link.stop();
  }

  /**
   * Sends an action and resolves with its response (`Response: Success`). `Response:
   * Error` rejects with the PBX's message. Rejects with CALLPOP_AMI_ACTION_TIMEOUT past
   * the timeout and with CALLPOP_AMI_DISCONNECTED if the connection drops first.
   */
  async action(name: string, fields: AmiActionFields = {}, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<AmiMessage> {
    const result = await this.send(name, fields, { ...options });
    return result.response;
  }

  /**
   * Sends a list action (`CoreShowChannels`, `QueueStatus`...) and collects its events
   * until `completeEvent` (default `<name>Complete`) or any event with
   * `EventList: Complete`.
   */
  actionList(name: string, fields: AmiActionFields = {}, options: { timeoutMs?: number; signal?: AbortSignal; completeEvent?: string; maxEvents?: number } = {}): Promise<AmiListResult> {
    return this.send(name, fields, { ...options, completeEvent: options.completeEvent ?? `${name}Complete` });
  }

  private send(name: string, fields: AmiActionFields, options: SendOptions): Promise<AmiListResult> {
    return new Promise<AmiListResult>((resolve, reject) => {
      const io = this.io;
      if (!io || !io.alive || io.stage !== 'ready') {
        reject(new CallpopError('CALLPOP_AMI_DISCONNECTED', `AMI action ${name} not sent: not connected to ${this.address}`));
        return;
      }
      this.sendRaw(io, name, fields, options, resolve, reject);
    });
  }

  private sendRaw(
    io: LinkIo,
    name: string,
    fields: AmiActionFields,
    options: SendOptions,
    resolve: (value: AmiListResult) => void,
    reject: (err: Error) => void,
  ): void {
    let bytes: string;
    const actionId = this.newActionId();
    try {
      bytes = encodeAction(name, { ...fields, ActionID: actionId });
    } catch (err) {
      reject(err as Error);
      return;
    }
    const timeoutMs = options.timeoutMs ?? this.options.actionTimeoutMs;
    const entry: PendingAction = {
      name,
      resolve,
      reject,
      completeEvent: options.completeEvent,
      events: [],
      maxEvents: options.maxEvents ?? DEFAULT_LIST_EVENTS,
      timer: setTimeout(() => {
        this.settle(actionId, new CallpopError('CALLPOP_AMI_ACTION_TIMEOUT', `AMI action ${name} got no answer from ${this.address} within ${timeoutMs} ms`));
      }, timeoutMs),
    };
    if (options.signal) {
      const signal = options.signal;
      const onAbort = (): void => {
        this.settle(actionId, new CallpopError('CALLPOP_AMI_ACTION_TIMEOUT', `AMI action ${name} was aborted`));
      };
      if (signal.aborted) {
        clearTimeout(entry.timer);
        reject(new CallpopError('CALLPOP_AMI_ACTION_TIMEOUT', `AMI action ${name} was aborted`));
        return;
      }
      signal.addEventListener('abort', onAbort, { once: true });
      entry.cleanup = () => signal.removeEventListener('abort', onAbort);
    }
    this.pending.set(actionId, entry);
    io.write(bytes);
  }

  private settle(actionId: string, outcome: Error | AmiListResult): void {
    const entry = this.pending.get(actionId);
    if (!entry) return;
    this.pending.delete(actionId);
    clearTimeout(entry.timer);
    entry.cleanup?.();
    if (outcome instanceof Error) entry.reject(outcome);
    else entry.resolve(outcome);
  }

  private newActionId(): string {
    return `${this.idPrefix}${this.nextId++}`;
  }

  /** The AMI side of the shared link: one session per socket. */
  private protocol(): LinkProtocol {
    return {
      name: 'AMI',
      errors: this.linkErrors(),
      open: (io) => this.openSession(io),
    };
  }

  private openSession(io: LinkIo): LinkSession {
    this.io = io;
    const decoder = new AmiDecoder({ maxFrameBytes: this.options.maxFrameBytes, expectGreeting: true });
    return {
      data: (chunk) => this.onData(io, decoder, chunk),
      ping: () => this.ping(),
      goodbye: () => io.write(encodeAction('Logoff', { ActionID: this.newActionId() })),
      closed: (err) => {
        if (this.io === io) this.io = null;
        // Every pending action fails, so no caller hangs across a reconnect.
        const failure = err.code === 'CALLPOP_AMI_DISCONNECTED' ? err : new CallpopError('CALLPOP_AMI_DISCONNECTED', err.message, { cause: err });
        for (const actionId of [...this.pending.keys()]) this.settle(actionId, failure);
      },
    };
  }

  /** Causes already logged: a PBX that sends bad frames all day gets one line per cause, and counters. */
  private readonly warned = new Set<string>();

  private warnOnce(cause: string, fields: Record<string, unknown>, message: string): void {
    if (this.warned.has(cause)) return;
    this.warned.add(cause);
    this.logger.warn(fields, `${message} (logged once; frames dropped are counted in callpop_pbx_frames_dropped_total)`);
  }

  private onData(io: LinkIo, decoder: AmiDecoder, chunk: Buffer): void {
    const at = Date.now();
    for (const item of decoder.push(chunk)) {
      switch (item.type) {
        case 'greeting':
          if (!item.line.startsWith('Asterisk Call Manager/')) {
            io.fail(new CallpopError('CALLPOP_AMI_CONNECT', `${this.address} answered but is not Asterisk AMI (greeting "${item.line.slice(0, 60)}"): check the port`), 'connect');
            return;
          }
          io.greeted();
          this.logger.debug({ version: item.version }, 'AMI greeting');
          this.login(io);
          break;
        case 'oversized':
          io.countFrames(0, 1);
          this.warnOnce('oversized', { code: 'CALLPOP_AMI_FRAME', bytes: item.bytes, limit: item.limit }, `AMI frame over limits.max_frame_bytes (${item.limit}) dropped; resynced at the next blank line`);
          break;
        case 'malformed':
          io.countFrames(0, 1);
          this.warnOnce('malformed', { code: 'CALLPOP_AMI_FRAME', line: item.line }, 'AMI line without a colon skipped');
          break;
        case 'truncated':
          this.warnOnce('truncated', { code: 'CALLPOP_AMI_FRAME', key: item.key, limit: item.limit }, `AMI header value longer than ${item.limit} characters cut (the frame is kept)`);
          break;
        case 'message':
          io.countFrames(1);
          this.onMessage(item.message, at);
          break;
      }
      if (!io.alive) return;
    }
  }

  private onMessage(message: AmiMessage, at: number): void {
    const actionId = message['ActionID'];
    const entry = actionId === undefined ? undefined : this.pending.get(actionId);
    if (entry && actionId !== undefined) {
      if (message['Response'] !== undefined && entry.response === undefined) {
        if (message['Response'] === 'Error') {
          this.settle(actionId, new AmiActionError(entry.name, message));
          return;
        }
        // A list action answers `EventList: start` / "... will follow", then its events.
        const listFollows = /start/i.test(message['EventList'] ?? '') || /follow/i.test(message['Message'] ?? '');
        if (entry.completeEvent && listFollows) entry.response = message;
        else this.settle(actionId, { response: message, events: [] });
        return;
      }
      if (message['Event'] !== undefined && entry.completeEvent) {
        if (message['Event'] === entry.completeEvent || message['EventList'] === 'Complete') {
          this.settle(actionId, { response: entry.response ?? message, events: entry.events, ...(entry.truncated ? { truncated: true } : {}) });
        } else if (entry.events.length < entry.maxEvents) {
          entry.events.push(message);
        } else {
          entry.truncated = true;
        }
        return;
      }
    }
    if (message['Event'] !== undefined) this.emit('event', message, at);
  }

  private login(io: LinkIo): void {
    const { username, secret, events } = this.options;
    const loginTimeout = this.options.actionTimeoutMs;
    const onLoginError = (err: Error): void => {
      if (err instanceof AmiActionError) {
        io.fail(
          new CallpopError(
            'CALLPOP_AMI_AUTH',
            `Asterisk AMI at ${this.address} refused login for user "${username}" (${err.amiMessage || 'Authentication failed'}): check the [${username}] user in manager.conf (secret, permit/deny, read/write) and the environment variable that holds its secret`,
          ),
          'auth',
        );
      } else {
        // No answer or a dropped socket: a connection problem, probed again quickly.
        io.fail(err instanceof CallpopError ? err : new CallpopError('CALLPOP_AMI_AUTH', `AMI login to ${this.address} failed: ${describeError(err)}`), 'connect');
      }
    };
    const sendLogin = (fields: AmiActionFields): void => {
      this.sendRaw(io, 'Login', { Username: username, ...fields, Events: events }, { timeoutMs: loginTimeout }, () => io.ready(), onLoginError);
    };
    if (this.options.auth === 'md5') {
      this.sendRaw(
        io,
        'Challenge',
        { AuthType: 'MD5' },
        { timeoutMs: loginTimeout },
        (result) => {
          const challenge = result.response['Challenge'];
          if (!challenge) {
            io.fail(new CallpopError('CALLPOP_AMI_AUTH', `Asterisk AMI at ${this.address} sent no MD5 challenge: set auth: plain`), 'auth');
            return;
          }
          const key = createHash('md5').update(challenge + secret).digest('hex');
          sendLogin({ AuthType: 'MD5', Key: key });
        },
        onLoginError,
      );
    } else {
      sendLogin({ Secret: secret });
    }
  }

  private addFilters(): void {
    for (const filter of this.options.filters) {
      this.action('Filter', { Operation: 'Add', Filter: filter }).catch((err: unknown) => {
        this.logger.warn({ filter, err: describeError(err) }, 'AMI Filter refused (the manager.conf user needs write=system); continuing unfiltered');
      });
    }
  }

  /** Keep-alive: only an unanswered Ping means a dead peer (an error answer is still an answer). */
  private async ping(): Promise<void> {
    try {
      await this.action('Ping', {}, { timeoutMs: this.options.pingTimeoutMs });
    } catch (err) {
      if (err instanceof CallpopError && err.code === 'CALLPOP_AMI_ACTION_TIMEOUT') {
        throw new CallpopError('CALLPOP_AMI_DISCONNECTED', `Asterisk AMI at ${this.address} did not answer Ping within ${this.options.pingTimeoutMs} ms; reconnecting`);
      }
    }
  }

  private linkErrors(): LinkErrors {
    const address = (): string => this.address;
    const tlsHint = this.options.tls ? '; for TLS also check tlsenable/tlsbindaddr and that the certificate is trusted (tls.ca_file)' : '';
    const loggedIn = (stage: LinkStage): boolean => stage === 'ready' || stage === 'login';
    return {
      socket: (err, stage) => {
        const code = err.code ? ` (${err.code})` : '';
        if (loggedIn(stage)) return new CallpopError('CALLPOP_AMI_DISCONNECTED', `AMI connection to ${address()} failed${code}: ${err.message}`, { cause: err });
        return new CallpopError(
          'CALLPOP_AMI_CONNECT',
          `cannot reach Asterisk AMI at ${address()}${code}: check manager.conf [general] enabled = yes, bindaddr and port, and any firewall${tlsHint}`,
          { cause: err },
        );
      },
      closed: (stage) =>
        loggedIn(stage)
          ? new CallpopError('CALLPOP_AMI_DISCONNECTED', `Asterisk AMI at ${address()} closed the connection`)
          : new CallpopError('CALLPOP_AMI_CONNECT', `Asterisk AMI at ${address()} closed the connection before login: check manager.conf permit/deny for this host`),
      connectTimeout: (ms) =>
        new CallpopError(
          'CALLPOP_AMI_CONNECT',
          `Asterisk AMI at ${address()} did not greet within ${ms} ms: check host and port (5038, or 5039 for TLS) and that manager.conf [general] has enabled = yes`,
        ),
      idle: (ms) => new CallpopError('CALLPOP_AMI_DISCONNECTED', `nothing from Asterisk AMI at ${address()} for ${ms} ms; reconnecting`),
      protocol: (cause) =>
        cause instanceof CallpopError && cause.code === 'CALLPOP_AMI_FRAME'
          ? cause
          : new CallpopError('CALLPOP_AMI_FRAME', `AMI stream from ${address()} could not be decoded (${describeError(cause)}); reconnecting`, { cause }),
      stopped: () => new CallpopError('CALLPOP_AMI_DISCONNECTED', `AMI connection to ${address()} was stopped`),
      aborted: () => new CallpopError('CALLPOP_AMI_CONNECT', `check of Asterisk AMI at ${address()} was aborted`),
    };
  }
}

/** `Response: Error` to an action; `amiMessage` is Asterisk's `Message:` (never contains our secret). */
export class AmiActionError extends Error {
  readonly amiMessage: string;
  readonly response: AmiMessage;

  constructor(action: string, response: AmiMessage) {
    const text = response['Message'] ?? '';
    super(`AMI action ${action} failed: ${text || 'Response: Error'}`);
    this.name = 'AmiActionError';
    this.amiMessage = text;
    this.response = response;
  }
}
