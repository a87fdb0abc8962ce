import { EventEmitter } from 'node:events';
import net from 'node:net';
import { CallpopError, describeError } from '../../model/errors.js';
import type { Logger } from '../../model/logger.js';
import { silentLogger } from '../../model/logger.js';
import type { PbxStatus } from '../pbx-adapter.js';
import type { EslCommand, EslEvent, EslMessage } from './esl-codec.js';
import { EslDecoder, encodeCommand } from './esl-codec.js';

/**
 * ESL inbound client: connect, `auth`, subscribe, `filter`, in-order command/api replies
 * with a timeout, and reconnect with capped exponential backoff. The wire format lives in
 * esl-codec.ts; this file only manages the socket around it.
 */

export interface EslConnectionOptions {
  pbxId: string;
  host: string;
  port: number;
  /** Never logged, never part of an error message. */
  password: string;
  /** `user@domain`: log in with `userauth` (per-user ESL permissions) instead of `auth`. */
  username?: string;
  eventFormat: 'json' | 'plain';
  /** Event names for `event <format> ...`; empty means no subscription. */
  events: readonly string[];
  filters?: ReadonlyArray<{ header: string; value: string }>;
  maxFrameBytes?: number;
  connectTimeoutMs?: number;
  authTimeoutMs?: number;
  commandTimeoutMs?: number;
  /** Reconnect when nothing arrives for this long (FreeSWITCH sends HEARTBEAT every 20 s). 0 = off. */
  idleTimeoutMs?: number;
  reconnect?: { initialMs: number; maxMs: number };
  logger?: Logger;
}

export interface EslConnectionEvents {
  event: [EslEvent];
  /** Authenticated and subscribed: the adapter resyncs here. */
  connected: [];
  status: [PbxStatus];
}

export interface EslConnectionStats {
  connects: number;
  authFailures: number;
  events: number;
  frameErrors: number;
  skippedFrames: number;
  commandTimeouts: number;
}

interface Pending {
  resolve(message: EslMessage): void;
  reject(err: CallpopError): void;
  timer: NodeJS.Timeout | null;
  /** Timed out: its late reply is still consumed here so replies stay in order. */
  abandoned: boolean;
}

const DEFAULTS = {
  connectTimeoutMs: 5000,
  authTimeoutMs: 5000,
  commandTimeoutMs: 10000,
  idleTimeoutMs: 65000,
  initialMs: 500,
  maxMs: 30000,
};

export class EslConnection extends EventEmitter<EslConnectionEvents> {
  readonly stats: EslConnectionStats = { connects: 0, authFailures: 0, events: 0, frameErrors: 0, skippedFrames: 0, commandTimeouts: 0 };
  private readonly options: EslConnectionOptions;
  private readonly logger: Logger;
  private socket: net.Socket | null = null;
  private decoder: EslDecoder | null = null;
  private pending: Pending[] = [];
  private authWaiter: ((ok: boolean) => void) | null = null;
  private running = false;
  private ready = false;
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  private lastFailure: CallpopError | null = null;
  private sessionDone: Promise<void> | null = null;

  constructor(options: EslConnectionOptions) {
    super();
    this.options = options;
    this.logger = (options.logger ?? silentLogger).child({ pbx: options.pbxId });
  }

  /** `host:port`, for messages (never the password). */
  get address(): string {
    return `${this.options.host}:${this.options.port}`;
  }

  get connected(): boolean {
    return this.ready;
  }

  /** Connects and keeps reconnecting with backoff until `stop()`. Never throws. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.attempt = 0;
    this.connectNow();
  }

  /** Closes the socket, cancels reconnects, fails pending commands with CALLPOP_ESL_DISCONNECTED. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const socket = this.socket;
    const done = this.sessionDone;
    if (socket) {
      socket.destroy();
    }
    if (done) await done;
    this.emitStatus({ state: 'stopped' });
  }

  /**
   * One connection attempt without reconnects (for `callpop check`): resolves once
   * authenticated (and subscribed when `subscribe`), rejects with a CallpopError.
   * Call `stop()` afterwards.
   */
  connectOnce(signal?: AbortSignal, options: { subscribe?: boolean } = {}): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(new CallpopError('CALLPOP_ESL_CONNECT', `check of FreeSWITCH ESL at ${this.address} was aborted`));
        return;
      }
      const onAbort = (): void => {
        this.socket?.destroy();
        reject(new CallpopError('CALLPOP_ESL_CONNECT', `check of FreeSWITCH ESL at ${this.address} was aborted`));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.openSession(options.subscribe ?? false, (err) => {
        signal?.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve();
      });
    });
  }

  /**
   * `api <command>`: resolves with the api/response body, which may start with `-ERR`. A
   * refusal before the command runs (`-ERR permission denied` for a userauth user without
   * it in esl-allowed-api) comes as a command/reply; its text is returned the same way.
   */
  async api(command: string, timeoutMs?: number): Promise<string> {
    const reply = await this.send({ kind: 'api', command }, timeoutMs);
    if (reply.type === 'api-response') return reply.body;
    if (reply.type === 'command-reply') return reply.replyText;
    return '';
  }

  /** Sends one command and resolves with its reply (command/reply or api/response), in order. */
  send(command: EslCommand, timeoutMs = this.options.commandTimeoutMs ?? DEFAULTS.commandTimeoutMs): Promise<EslMessage> {
    const socket = this.socket;
    if (!socket || socket.destroyed) {
      return Promise.reject(new CallpopError('CALLPOP_ESL_DISCONNECTED', `not connected to FreeSWITCH ESL at ${this.address}; command not sent`));
    }
    const bytes = encodeCommand(command);
    return new Promise<EslMessage>((resolve, reject) => {
      const entry: Pending = { resolve, reject, timer: null, abandoned: false };
      if (timeoutMs > 0) {
        entry.timer = setTimeout(() => {
          entry.abandoned = true;
          this.stats.commandTimeouts += 1;
          reject(
            new CallpopError(
              'CALLPOP_ESL_COMMAND_TIMEOUT',
              `FreeSWITCH ESL at ${this.address} did not answer ${command.kind === 'auth' ? 'auth' : describeCommand(command)} within ${timeoutMs} ms`,
            ),
          );
        }, timeoutMs);
      }
      this.pending.push(entry);
      socket.write(bytes);
    });
  }

  // ---------------------------------------------------------------------------------------

  private connectNow(): void {
    this.retryTimer = null;
    if (!this.running) return;
    this.emitStatus({ state: 'connecting' });
    this.openSession(true, (err) => {
      if (err) this.noteFailure(err);
    });
  }

  /**
   * Opens one socket and runs the handshake. `onHandshake` is called exactly once: with
   * null once ready, or with the error that ended the attempt.
   */
  private openSession(subscribe: boolean, onHandshake: (err: CallpopError | null) => void): void {
    const { host, port } = this.options;
    const socket = net.connect({ host, port });
    const decoder = new EslDecoder({ maxFrameBytes: this.options.maxFrameBytes });
    this.socket = socket;
    this.decoder = decoder;
    this.ready = false;
    let handshakeDone = false;
    let closeReason: CallpopError | null = null;
    const finishHandshake = (err: CallpopError | null): void => {
      if (handshakeDone) return;
      handshakeDone = true;
      clearTimeout(connectTimer);
      onHandshake(err);
    };
    const fail = (err: CallpopError): void => {
      closeReason ??= err;
      socket.destroy();
    };
    let resolveDone!: () => void;
    this.sessionDone = new Promise<void>((r) => (resolveDone = r));

    const connectTimeoutMs = this.options.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs;
    const connectTimer = setTimeout(() => fail(connectError(this.address, `no ESL greeting within ${connectTimeoutMs} ms`)), connectTimeoutMs);

    socket.setNoDelay(true);
    socket.setKeepAlive(true, 15000);
    socket.on('data', (chunk: Buffer) => {
      this.touchIdle(socket);
      let messages: EslMessage[];
      try {
        messages = decoder.push(chunk);
      } catch (err) {
        // The codec reports bad input as messages; a throw here is a bug, but must not kill the daemon.
        this.logger.error({ err: describeError(err) }, 'ESL decoder failed; reconnecting');
        fail(new CallpopError('CALLPOP_ESL_FRAME', `ESL stream from ${this.address} could not be decoded; reconnecting`));
        return;
      }
      for (const message of messages) {
        if (socket.destroyed) break;
        this.onMessage(message, fail);
      }
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      closeReason ??= connectError(this.address, err.code ?? err.message);
    });
    socket.on('close', () => {
      clearTimeout(connectTimer);
      this.clearIdle();
      const wasReady = this.ready;
      this.ready = false;
      if (this.socket === socket) {
        this.socket = null;
        this.decoder = null;
      }
      this.authWaiter = null;
      const pending = this.pending;
      this.pending = [];
      for (const entry of pending) {
        if (entry.timer) clearTimeout(entry.timer);
        if (!entry.abandoned) {
          entry.reject(new CallpopError('CALLPOP_ESL_DISCONNECTED', `connection to FreeSWITCH ESL at ${this.address} closed before the reply`));
        }
      }
      const reason = closeReason ?? new CallpopError('CALLPOP_ESL_DISCONNECTED', `FreeSWITCH ESL at ${this.address} closed the connection`);
      if (!handshakeDone) finishHandshake(reason);
      else if (wasReady && this.running) this.noteFailure(reason);
      resolveDone();
    });

    socket.once('connect', () => {
      void this.handshake(socket, subscribe).then(
        () => {
          if (socket.destroyed) return;
          this.ready = true;
          this.attempt = 0;
          this.stats.connects += 1;
          this.lastFailure = null;
          this.touchIdle(socket);
          finishHandshake(null);
          if (subscribe) {
            this.logger.info({ address: this.address, format: this.options.eventFormat }, 'connected to FreeSWITCH ESL');
            this.emitStatus({ state: 'connected' });
            this.emit('connected');
          }
        },
        (err: unknown) => {
          const error = err instanceof CallpopError ? err : connectError(this.address, describeError(err));
          fail(error);
        },
      );
    });
  }

  private async handshake(socket: net.Socket, subscribe: boolean): Promise<void> {
    const authTimeoutMs = this.options.authTimeoutMs ?? DEFAULTS.authTimeoutMs;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.authWaiter = null;
        reject(connectError(this.address, `no auth/request within ${authTimeoutMs} ms (is this an Event Socket port?)`));
      }, authTimeoutMs);
      this.authWaiter = (ok) => {
        clearTimeout(timer);
        this.authWaiter = null;
        if (ok) resolve();
        else reject(connectError(this.address, 'connection refused by the server'));
      };
    });
    const { username, password } = this.options;
    const reply = await this.send(username ? { kind: 'userauth', user: username, password } : { kind: 'auth', password }, authTimeoutMs);
    if (reply.type !== 'command-reply' || !reply.ok) {
      this.stats.authFailures += 1;
      const answer = reply.type === 'command-reply' ? reply.replyText : 'no reply';
      throw new CallpopError(
        'CALLPOP_ESL_AUTH',
        username
          ? `FreeSWITCH ESL at ${this.address} rejected user ${username} (${answer}); check that the directory user exists ` +
              'with <param name="esl-password"> equal to this pbx entry\'s password'
          : `FreeSWITCH ESL at ${this.address} rejected the password (${answer}); ` +
              'check <param name="password"> in event_socket.conf.xml against this pbx entry\'s password',
      );
    }
    if (!subscribe || socket.destroyed) return;
    if (this.options.events.length > 0) {
      const sub = await this.send({ kind: 'event', format: this.options.eventFormat, events: this.options.events });
      if (sub.type !== 'command-reply' || !sub.ok) {
        const answer = sub.type === 'command-reply' ? sub.replyText : sub.type;
        // A userauth user's esl-allowed-events must list every event (and CUSTOM subclass) asked for.
        const hint = username && answer.includes('permission denied') ? `; user ${username} needs esl-allowed-events "${this.options.events.join(' ')}"` : '';
        throw new CallpopError('CALLPOP_ESL_CONNECT', `FreeSWITCH ESL at ${this.address} refused the event subscription (${answer})${hint}`);
      }
    }
    for (const filter of this.options.filters ?? []) {
      const res = await this.send({ kind: 'filter', header: filter.header, value: filter.value });
      if (res.type !== 'command-reply' || !res.ok) {
        this.logger.warn({ header: filter.header, reply: res.type === 'command-reply' ? res.replyText : res.type }, 'ESL filter refused');
      }
    }
  }

  private onMessage(message: EslMessage, fail: (err: CallpopError) => void): void {
    switch (message.type) {
      case 'event':
        this.stats.events += 1;
        this.emit('event', message.event);
        return;
      case 'auth-request':
        this.authWaiter?.(true);
        return;
      case 'command-reply':
      case 'api-response':
        this.settle(message);
        return;
      case 'skipped':
        this.stats.skippedFrames += 1;
        this.logger.warn({ code: message.error.code, bytes: message.bytes, contentType: message.contentType }, message.error.message);
        if (message.contentType === 'command/reply' || message.contentType === 'api/response') this.settle(null, message.error);
        return;
      case 'error':
        this.stats.frameErrors += 1;
        this.logger.warn({ code: message.error.code }, message.error.message);
        return;
      case 'rude-rejection':
        // mod_event_socket's ACL answer; the server closes right after.
        fail(connectError(this.address, `rejected by apply-inbound-acl (${message.body.trim().slice(0, 80)})`));
        this.authWaiter?.(false);
        return;
      case 'disconnect-notice':
        this.logger.info({ notice: message.body.trim().slice(0, 120) }, 'FreeSWITCH sent a disconnect notice');
        return;
      case 'log':
      case 'unknown':
        this.logger.debug({ type: message.type }, 'ESL message ignored');
        return;
    }
  }

  private settle(message: EslMessage | null, error?: CallpopError): void {
    const entry = this.pending.shift();
    if (!entry) {
      this.logger.warn({}, 'ESL reply without a pending command; ignored');
      return;
    }
    if (entry.timer) clearTimeout(entry.timer);
    if (entry.abandoned) return;
    if (message) entry.resolve(message);
    else entry.reject(error ?? new CallpopError('CALLPOP_ESL_FRAME', 'ESL reply could not be read'));
  }

  private noteFailure(err: CallpopError): void {
    this.lastFailure = err;
    if (!this.running) return;
    const delay = this.backoff();
    const state: PbxStatus['state'] = err.code === 'CALLPOP_ESL_AUTH' ? 'auth-failed' : 'disconnected';
    if (err.code === 'CALLPOP_ESL_AUTH') this.logger.error({ code: err.code, retryInMs: delay }, err.message);
    else this.logger.warn({ code: err.code, retryInMs: delay }, err.message);
    this.emitStatus({ state, reason: err.message, retryInMs: delay });
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connectNow(), delay);
  }

  /** Capped exponential backoff: initial, 2x, 4x ... max, plus up to 10% jitter. */
  private backoff(): number {
    const initial = this.options.reconnect?.initialMs ?? DEFAULTS.initialMs;
    const max = this.options.reconnect?.maxMs ?? DEFAULTS.maxMs;
    const base = Math.min(max, initial * 2 ** Math.min(this.attempt, 20));
    this.attempt += 1;
    return Math.round(Math.min(max, base + Math.random() * base * 0.1));
  }

  private touchIdle(socket: net.Socket): void {
    const idleMs = this.options.idleTimeoutMs ?? DEFAULTS.idleTimeoutMs;
    if (idleMs <= 0 || !this.ready) return;
    if (this.idleTimer) this.idleTimer.refresh();
    else {
      this.idleTimer = setTimeout(() => {
        this.idleTimer = null;
        this.logger.warn({ idleMs }, 'nothing from FreeSWITCH ESL (not even HEARTBEAT); reconnecting');
        socket.destroy();
      }, idleMs);
      this.idleTimer.unref?.();
    }
  }

  private clearIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }

  private emitStatus(status: Omit<PbxStatus, 'pbxId'>): void {
    this.emit('status', { pbxId: this.options.pbxId, ...status });
  }

  /** The last error that ended a connection attempt (secret-free), for `check` and /healthz. */
  get lastError(): CallpopError | null {
    return this.lastFailure;
  }
}

function connectError(address: string, why: string): CallpopError {
  return new CallpopError(
    'CALLPOP_ESL_CONNECT',
    `cannot connect to FreeSWITCH ESL at ${address} (${why}); check listen-ip, listen-port and apply-inbound-acl in event_socket.conf.xml`,
  );
}

function describeCommand(command: EslCommand): string {
  switch (command.kind) {
    case 'api':
    case 'bgapi':
      return `${command.kind} ${command.command.split(' ')[0] ?? ''}`;
    case 'event':
      return 'event subscription';
    case 'filter':
      return `filter ${command.header}`;
    default:
      return command.kind;
  }
}
