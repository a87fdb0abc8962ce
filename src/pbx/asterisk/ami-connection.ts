import { createHash, randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { CallpopError, describeError } from '../../model/errors.js';
import type { Logger } from '../../model/logger.js';
import { silentLogger } from '../../model/logger.js';
import type { PbxStatus } from '../pbx-adapter.js';
import type { AmiActionFields, AmiMessage } from './ami-codec.js';
import { AmiDecoder, DEFAULT_MAX_FRAME_BYTES, encodeAction } from './ami-codec.js';

/**
 * One AMI client connection: TCP or TLS connect, greeting, login (plain or MD5
 * challenge), keep-alive Ping, actions correlated by ActionID with a timeout, and
 * reconnect with capped exponential backoff. Events go out as `event`; the codec does
 * the framing. It knows nothing of calls.
 */

export interface AmiTlsOptions {
  /** PEM of the CA or the self-signed certificate Asterisk presents. */
  ca?: string | Buffer;
  servername?: string;
  rejectUnauthorized?: boolean;
}

export interface AmiConnectionOptions {
  pbxId: string;
  host: string;
  port: number;
  username: string;
  /** Never logged, never put in an error message. */
  secret: string;
  auth?: 'plain' | 'md5';
  /** Present: connect with TLS (Asterisk's `tlsenable`, port 5039 by convention). */
  tls?: AmiTlsOptions;
  /** `Events:` mask sent with Login (`on`, `off`, `call,agent`...). */
  events?: string;
  /** `Action: Filter` expressions added after login (need `system` write permission). */
  filters?: readonly string[];
  maxFrameBytes?: number;
  connectTimeoutMs?: number;
  actionTimeoutMs?: number;
  /** 0 disables keep-alive. */
  pingIntervalMs?: number;
  pingTimeoutMs?: number;
  reconnect?: { initialMs: number; maxMs: number };
  logger?: Logger;
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

type Phase = 'idle' | 'connecting' | 'greeting' | 'login' | 'ready' | 'closed';

const DEFAULT_LIST_EVENTS = 100_000;

export class AmiConnection extends EventEmitter<AmiConnectionEvents> {
  readonly pbxId: string;
  private readonly options: Required<Omit<AmiConnectionOptions, 'tls' | 'logger'>> & { tls?: AmiTlsOptions };
  private readonly logger: Logger;
  private socket: net.Socket | null = null;
  private decoder: AmiDecoder | null = null;
  private phase: Phase = 'idle';
  private stopped = true;
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private pingTimer: NodeJS.Timeout | null = null;
  private readonly pending = new Map<string, PendingAction>();
  /** Per-connection ActionID prefix: another client's ActionIDs (`drv-2`) never match ours. */
  private readonly idPrefix = `callpop-${randomBytes(4).toString('hex')}-`;
  private nextId = 1;
  /** Why the current session ended, decided before `close` fires. */
  private failure: CallpopError | null = null;
  private authFailed = false;
  private onceWaiter: { resolve(): void; reject(err: CallpopError): void } | null = null;
  private lastStatus: PbxStatus['state'] | null = null;

  constructor(options: AmiConnectionOptions) {
    super();
    this.pbxId = options.pbxId;
    this.logger = (options.logger ?? silentLogger).child({ pbx: options.pbxId });
    this.options = {
      pbxId: options.pbxId,
      host: options.host,
      port: options.port,
      username: options.username,
      secret: options.secret,
      auth: options.auth ?? 'md5',
      tls: options.tls,
      events: options.events ?? 'call,agent',
      filters: options.filters ?? [],
      maxFrameBytes: options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
      connectTimeoutMs: options.connectTimeoutMs ?? 5_000,
      actionTimeoutMs: options.actionTimeoutMs ?? 10_000,
      pingIntervalMs: options.pingIntervalMs ?? 20_000,
      pingTimeoutMs: options.pingTimeoutMs ?? 5_000,
      reconnect: options.reconnect ?? { initialMs: 500, maxMs: 30_000 },
    };
  }

  /** `host:port` as users write it, for messages. */
  get address(): string {
    return `${this.options.host}:${this.options.port}`;
  }

  get connected(): boolean {
    return this.phase === 'ready';
  }

  /** Connects and keeps reconnecting with backoff until `stop()`. Never throws. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.attempt = 0;
    this.open();
  }

  /**
   * Connects once and logs in; resolves when logged in, rejects with the first failure
   * (no reconnect). For `callpop check`; call `stop()` afterwards.
   */
  connectOnce(signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(new CallpopError('CALLPOP_AMI_CONNECT', `check of Asterisk AMI at ${this.address} was aborted`));
        return;
      }
      const onAbort = (): void => {
        this.onceWaiter?.reject(new CallpopError('CALLPOP_AMI_CONNECT', `check of Asterisk AMI at ${this.address} was aborted`));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.onceWaiter = {
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          this.onceWaiter = null;
          resolve();
        },
        reject: (err) => {
          signal?.removeEventListener('abort', onAbort);
          this.onceWaiter = null;
          this.stopped = true;
          this.teardown(err);
          reject(err);
        },
      };
      this.stopped = false;
      this.open();
    });
  }

  /** Logs off (best effort), closes, cancels reconnects, fails pending actions. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const socket = this.socket;
    if (socket && !socket.destroyed) {
      if (this.phase === 'ready' && socket.writable) {
        try {
          socket.write(encodeAction('Logoff', { ActionID: this.newActionId() }));
        } catch {
          // Closing anyway.
        }
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          socket.destroy();
          resolve();
        }, 200);
        socket.once('close', () => {
          clearTimeout(timer);
          resolve();
        });
        socket.end();
      });
    }
    this.teardown(new CallpopError('CALLPOP_AMI_DISCONNECTED', `AMI connection to ${this.address} was stopped`));
    this.setStatus({ pbxId: this.pbxId, state: 'stopped' });
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

  private send(
    name: string,
    fields: AmiActionFields,
    options: { timeoutMs?: number; signal?: AbortSignal; completeEvent?: string; maxEvents?: number },
  ): Promise<AmiListResult> {
    return new Promise<AmiListResult>((resolve, reject) => {
      const socket = this.socket;
      if (!socket || this.phase !== 'ready' || !socket.writable) {
        reject(new CallpopError('CALLPOP_AMI_DISCONNECTED', `AMI action ${name} not sent: not connected to ${this.address}`));
        return;
      }
      this.sendRaw(socket, name, fields, options, resolve, reject);
    });
  }

  private sendRaw(
    socket: net.Socket,
    name: string,
    fields: AmiActionFields,
    options: { timeoutMs?: number; signal?: AbortSignal; completeEvent?: string; maxEvents?: number },
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
    socket.write(bytes);
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

  private open(): void {
    this.reconnectTimer = null;
    if (this.stopped) return;
    this.failure = null;
    this.authFailed = false;
    this.phase = 'connecting';
    this.decoder = new AmiDecoder({ maxFrameBytes: this.options.maxFrameBytes, expectGreeting: true });
    this.setStatus({ pbxId: this.pbxId, state: 'connecting' });
    const { host, port } = this.options;
    const socket = this.options.tls
      ? tls.connect({
          host,
          port,
          ca: this.options.tls.ca,
          servername: this.options.tls.servername ?? (net.isIP(host) ? undefined : host),
          rejectUnauthorized: this.options.tls.rejectUnauthorized ?? true,
        })
      : net.connect({ host, port });
    this.socket = socket;
    socket.setNoDelay(true);
    // Covers TCP connect, TLS handshake and the greeting: a port that accepts but never
    // speaks AMI fails here instead of hanging.
    const connectTimer = setTimeout(() => {
      this.fail(
        socket,
        new CallpopError(
          'CALLPOP_AMI_CONNECT',
          `Asterisk AMI at ${this.address} did not greet within ${this.options.connectTimeoutMs} ms: check host and port (5038, or 5039 for TLS) and that manager.conf [general] has enabled = yes`,
        ),
      );
    }, this.options.connectTimeoutMs);
    socket.once('close', () => clearTimeout(connectTimer));
    socket.on(this.options.tls ? 'secureConnect' : 'connect', () => {
      if (this.phase === 'connecting') this.phase = 'greeting';
    });
    socket.on('data', (chunk: Buffer) => this.onData(socket, chunk, connectTimer));
    socket.on('error', (err: NodeJS.ErrnoException) => this.fail(socket, this.connectError(err)));
    socket.on('close', () => this.onClose(socket));
  }

  private connectError(err: NodeJS.ErrnoException): CallpopError {
    const code = err.code ? ` (${err.code})` : '';
    if (this.phase === 'ready' || this.phase === 'login') {
      return new CallpopError('CALLPOP_AMI_DISCONNECTED', `AMI connection to ${this.address} failed${code}: ${err.message}`, { cause: err });
    }
    const tlsHint = this.options.tls ? '; for TLS also check tlsenable/tlsbindaddr and that the certificate is trusted (tls.ca_file)' : '';
    return new CallpopError(
      'CALLPOP_AMI_CONNECT',
      `cannot reach Asterisk AMI at ${this.address}${code}: check manager.conf [general] enabled = yes, bindaddr and port, and any firewall${tlsHint}`,
      { cause: err },
    );
  }

  private onData(socket: net.Socket, chunk: Buffer, connectTimer: NodeJS.Timeout): void {
    if (socket !== this.socket || !this.decoder) return;
    const at = Date.now();
    for (const item of this.decoder.push(chunk)) {
      switch (item.type) {
        case 'greeting':
          clearTimeout(connectTimer);
          if (!item.line.startsWith('Asterisk Call Manager/')) {
            this.fail(socket, new CallpopError('CALLPOP_AMI_CONNECT', `${this.address} answered but is not Asterisk AMI (greeting "${item.line.slice(0, 60)}"): check the port`));
            return;
          }
          this.logger.debug({ version: item.version }, 'AMI greeting');
          this.login(socket);
          break;
        case 'oversized':
          this.logger.warn(
            { code: 'CALLPOP_AMI_FRAME', bytes: item.bytes, limit: item.limit },
            `AMI frame over limits.max_frame_bytes (${item.limit}) dropped; resynced at the next blank line`,
          );
          break;
        case 'malformed':
          this.logger.warn({ code: 'CALLPOP_AMI_FRAME', line: item.line }, 'AMI line without a colon skipped');
          break;
        case 'message':
          this.onMessage(item.message, at);
          break;
      }
      if (socket !== this.socket) return;
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

  private login(socket: net.Socket): void {
    this.phase = 'login';
    const { username, secret, events } = this.options;
    const loginTimeout = this.options.actionTimeoutMs;
    const onLoginError = (err: Error): void => {
      if (err instanceof AmiActionError) {
        this.authFailed = true;
        this.fail(
          socket,
          new CallpopError(
            'CALLPOP_AMI_AUTH',
            `Asterisk AMI at ${this.address} refused login for user "${username}" (${err.amiMessage || 'Authentication failed'}): check the [${username}] user in manager.conf (secret, permit/deny, read/write) and the environment variable that holds its secret`,
          ),
        );
      } else {
        this.fail(socket, err instanceof CallpopError ? err : new CallpopError('CALLPOP_AMI_AUTH', `AMI login to ${this.address} failed: ${describeError(err)}`));
      }
    };
    const done = (): void => this.onLoggedIn(socket);
    const sendLogin = (fields: AmiActionFields): void => {
      this.sendRaw(socket, 'Login', { Username: username, ...fields, Events: events }, { timeoutMs: loginTimeout }, () => done(), onLoginError);
    };
    if (this.options.auth === 'md5') {
      this.sendRaw(
        socket,
        'Challenge',
        { AuthType: 'MD5' },
        { timeoutMs: loginTimeout },
        (result) => {
          const challenge = result.response['Challenge'];
          if (!challenge) {
            onLoginError(new CallpopError('CALLPOP_AMI_AUTH', `Asterisk AMI at ${this.address} sent no MD5 challenge: set auth: plain`));
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

  private onLoggedIn(socket: net.Socket): void {
    if (socket !== this.socket) return;
    this.phase = 'ready';
    this.attempt = 0;
    this.logger.info({ address: this.address, tls: Boolean(this.options.tls) }, 'AMI logged in');
    for (const filter of this.options.filters) {
      this.action('Filter', { Operation: 'Add', Filter: filter }).catch((err: unknown) => {
        this.logger.warn({ filter, err: describeError(err) }, 'AMI Filter refused (the manager.conf user needs write=system); continuing unfiltered');
      });
    }
    this.startPing(socket);
    this.setStatus({ pbxId: this.pbxId, state: 'connected' });
    this.emit('connected');
    this.onceWaiter?.resolve();
  }

  private startPing(socket: net.Socket): void {
    if (this.options.pingIntervalMs <= 0) return;
    this.pingTimer = setInterval(() => {
      if (socket !== this.socket || this.phase !== 'ready') return;
      this.action('Ping', {}, { timeoutMs: this.options.pingTimeoutMs }).catch((err: unknown) => {
        if (socket !== this.socket) return;
        if (err instanceof CallpopError && err.code === 'CALLPOP_AMI_ACTION_TIMEOUT') {
          this.fail(socket, new CallpopError('CALLPOP_AMI_DISCONNECTED', `Asterisk AMI at ${this.address} did not answer Ping within ${this.options.pingTimeoutMs} ms; reconnecting`));
        }
      });
    }, this.options.pingIntervalMs);
    this.pingTimer.unref?.();
  }

  /** Ends the current session with a reason; `close` then schedules the reconnect. */
  private fail(socket: net.Socket, err: CallpopError): void {
    if (socket !== this.socket) return;
    this.failure ??= err;
    socket.destroy();
  }

  private onClose(socket: net.Socket): void {
    if (socket !== this.socket) return;
    const wasReady = this.phase === 'ready';
    const err =
      this.failure ??
      (wasReady || this.phase === 'login'
        ? new CallpopError('CALLPOP_AMI_DISCONNECTED', `Asterisk AMI at ${this.address} closed the connection`)
        : new CallpopError('CALLPOP_AMI_CONNECT', `Asterisk AMI at ${this.address} closed the connection before login: check manager.conf permit/deny for this host`));
    this.teardown(err);
    if (this.onceWaiter) {
      this.onceWaiter.reject(err);
      return;
    }
    if (this.stopped) return;
    if (wasReady) this.logger.warn({ code: err.code, reason: err.message }, 'AMI connection lost');
    else this.logger.warn({ code: err.code, reason: err.message }, 'AMI connection failed');
    this.emit('disconnected', err);
    this.scheduleReconnect(err);
  }

  /** Drops the socket and fails every pending action, so no caller hangs. */
  private teardown(err: CallpopError): void {
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = null;
    const socket = this.socket;
    this.socket = null;
    this.decoder = null;
    this.phase = 'closed';
    if (socket && !socket.destroyed) socket.destroy();
    const failure = err.code === 'CALLPOP_AMI_DISCONNECTED' ? err : new CallpopError('CALLPOP_AMI_DISCONNECTED', err.message, { cause: err });
    for (const actionId of [...this.pending.keys()]) this.settle(actionId, failure);
  }

  private scheduleReconnect(err: CallpopError): void {
    const { initialMs, maxMs } = this.options.reconnect;
    // A wrong password will not fix itself in a second: wait the maximum so a
    // misconfigured daemon does not hammer Asterisk (and fill its security log).
    const base = this.authFailed ? maxMs : Math.min(maxMs, initialMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    // +-20 % jitter spreads the reconnects of several instances after a PBX restart.
    const delay = Math.max(1, Math.round(Math.min(maxMs, base * (0.8 + Math.random() * 0.4))));
    this.setStatus({
      pbxId: this.pbxId,
      state: this.authFailed ? 'auth-failed' : 'disconnected',
      reason: err.message,
      retryInMs: delay,
    });
    this.reconnectTimer = setTimeout(() => this.open(), delay);
  }

  private setStatus(status: PbxStatus): void {
    if (status.state === this.lastStatus && status.state !== 'disconnected' && status.state !== 'auth-failed') return;
    this.lastStatus = status.state;
    this.emit('status', status);
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
