import { EventEmitter } from 'node:events';
import { CallpopError, describeError } from '../../model/errors.js';
import type { Logger } from '../../model/logger.js';
import type { LinkStats, PbxStatus } from '../pbx-adapter.js';
import type { LinkErrors, LinkIo, LinkProtocol, LinkSession } from '../reconnecting-link.js';
import { ReconnectingLink } from '../reconnecting-link.js';
import type { EslCommand, EslEvent, EslMessage } from './esl-codec.js';
import { EslDecoder, encodeCommand } from './esl-codec.js';

/**
 * ESL inbound client: `auth`/`userauth`, subscribe, `filter`, in-order command/api replies
 * with a timeout. Socket, reconnect, idle keep-alive, status and statistics are the shared
 * ReconnectingLink's; the wire format lives in esl-codec.ts.
 */

/** Complete options (the schema's defaults applied): see `eslConnectionOptions` in index.ts. */
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
  filters: ReadonlyArray<{ header: string; value: string }>;
  maxFrameBytes: number;
  connectTimeoutMs: number;
  authTimeoutMs: number;
  commandTimeoutMs: number;
  /** Reconnect when nothing arrives for this long (FreeSWITCH sends HEARTBEAT every 20 s). 0 = off. */
  idleTimeoutMs: number;
  reconnect: { initialMs: number; maxMs: number };
  logger: Logger;
}

export interface EslConnectionEvents {
  event: [EslEvent];
  /** Authenticated and subscribed: the adapter resyncs here. */
  connected: [];
  status: [PbxStatus];
}

/** The link's counters plus what only ESL counts. */
export interface EslConnectionStats extends LinkStats {
  events: number;
  /** Bad input survived (malformed header line, bad JSON, bad %-encoding). */
  frameErrors: number;
  /** Frames over limits.max_frame_bytes, skipped. */
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

export class EslConnection extends EventEmitter<EslConnectionEvents> {
  private readonly options: EslConnectionOptions;
  private readonly logger: Logger;
  private readonly link: ReconnectingLink;
  private readonly own = { events: 0, frameErrors: 0, skippedFrames: 0, commandTimeouts: 0 };
  /** The live session's I/O; null between sessions. */
  private io: LinkIo | null = null;
  private pending: Pending[] = [];
  private authWaiter: ((ok: boolean) => void) | null = null;
  /** `connectOnce` without `subscribe` (a credentials check) skips the subscription. */
  private subscribe = true;

  constructor(options: EslConnectionOptions) {
    super();
    this.options = options;
    this.logger = options.logger.child({ pbx: options.pbxId });
    this.link = new ReconnectingLink({
      pbxId: options.pbxId,
      host: options.host,
      port: options.port,
      connectTimeoutMs: options.connectTimeoutMs,
      reconnect: options.reconnect,
      // FreeSWITCH's HEARTBEAT (every 20 s) is the keep-alive: silence is the probe.
      pingIntervalMs: 0,
      idleTimeoutMs: options.idleTimeoutMs,
      logger: this.logger,
      protocol: this.protocol(),
    });
    this.link.on('up', () => {
      this.logger.info({ address: this.address, format: this.options.eventFormat }, 'connected to FreeSWITCH ESL');
      this.emit('connected');
    });
    this.link.on('status', (status) => this.emit('status', status));
  }

  /** `host:port`, for messages (never the password). */
  get address(): string {
    return this.link.address;
  }

  get connected(): boolean {
    return this.link.connected;
  }

  /** The link's counters and ESL's own (events, frame errors, command timeouts). */
  get stats(): EslConnectionStats {
    return { ...this.link.stats(), ...this.own };
  }

  /** The link's counters (connects, bytes, frames...), for /metrics. */
  linkStats(): LinkStats {
    return this.link.stats();
  }

  /** Connects and keeps reconnecting until `stop()` (reconnect-policy.ts). Never throws. */
  start(): void {
    this.subscribe = true;
    this.link.start();
  }

  /** Closes the socket, cancels reconnects, fails pending commands with CALLPOP_ESL_DISCONNECTED. */
  async stop(): Promise<void> {
    await this.link.stop();
  }

  /**
   * One connection attempt without reconnects (for `callpop check`): resolves once
   * authenticated (and subscribed when `subscribe`), rejects with a CallpopError.
   * Call `stop()` afterwards.
   */
  connectOnce(signal?: AbortSignal, options: { subscribe?: boolean } = {}): Promise<void> {
    this.subscribe = options.subscribe ?? false;
    return this.link.connectOnce(signal);
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
  send(command: EslCommand, timeoutMs = this.options.commandTimeoutMs): Promise<EslMessage> {
    const io = this.io;
    if (!io || !io.alive) {
      return Promise.reject(new CallpopError('CALLPOP_ESL_DISCONNECTED', `not connected to FreeSWITCH ESL at ${this.address}; command not sent`));
    }
    const bytes = encodeCommand(command);
    return new Promise<EslMessage>((resolve, reject) => {
      const entry: Pending = { resolve, reject, timer: null, abandoned: false };
      if (timeoutMs > 0) {
        entry.timer = setTimeout(() => {
          entry.abandoned = true;
          this.own.commandTimeouts += 1;
          reject(
            new CallpopError(
              'CALLPOP_ESL_COMMAND_TIMEOUT',
              `FreeSWITCH ESL at ${this.address} did not answer ${command.kind === 'auth' ? 'auth' : describeCommand(command)} within ${timeoutMs} ms`,
            ),
          );
        }, timeoutMs);
      }
      this.pending.push(entry);
      io.write(bytes);
    });
  }

  /** The last error that ended a connection attempt (secret-free), for `check` and /healthz. */
  get lastError(): CallpopError | null {
    return this.link.lastError;
  }

  // ---------------------------------------------------------------------------------------

  /** The ESL side of the shared link: one session per socket. */
  private protocol(): LinkProtocol {
    const address = (): string => this.address;
    const errors: LinkErrors = {
      socket: (err) => connectError(address(), err.code ?? err.message),
      closed: () => new CallpopError('CALLPOP_ESL_DISCONNECTED', `FreeSWITCH ESL at ${address()} closed the connection`),
      connectTimeout: (ms) => connectError(address(), `no ESL greeting within ${ms} ms`),
      idle: (ms) => new CallpopError('CALLPOP_ESL_DISCONNECTED', `nothing from FreeSWITCH ESL at ${address()} (not even HEARTBEAT) for ${ms} ms; reconnecting`),
      protocol: (cause) =>
        cause instanceof CallpopError && cause.code === 'CALLPOP_ESL_FRAME'
          ? cause
          : new CallpopError('CALLPOP_ESL_FRAME', `ESL stream from ${address()} could not be decoded (${describeError(cause)}); reconnecting`, { cause }),
      stopped: () => new CallpopError('CALLPOP_ESL_DISCONNECTED', `connection to FreeSWITCH ESL at ${address()} was stopped`),
      aborted: () => new CallpopError('CALLPOP_ESL_CONNECT', `check of FreeSWITCH ESL at ${address()} was aborted`),
    };
    return { name: 'ESL', errors, open: (io) => this.openSession(io) };
  }

  private openSession(io: LinkIo): LinkSession {
    this.io = io;
    const decoder = new EslDecoder({ maxFrameBytes: this.options.maxFrameBytes });
    void this.handshake(io).then(
      () => io.ready(),
      (err: unknown) => {
        if (err instanceof CallpopError && err.code === 'CALLPOP_ESL_AUTH') io.fail(err, 'auth');
        else io.fail(err instanceof CallpopError ? err : connectError(this.address, describeError(err)), 'connect');
      },
    );
    return {
      data: (chunk) => {
        const messages = decoder.push(chunk);
        io.countFrames(messages.length - countDropped(messages), countDropped(messages));
        for (const message of messages) {
          if (!io.alive) break;
          this.onMessage(io, message);
        }
      },
      closed: () => {
        if (this.io === io) this.io = null;
        // The handshake waits on these; a close must end it.
        this.authWaiter?.(false);
        this.authWaiter = null;
        const pending = this.pending;
        this.pending = [];
        for (const entry of pending) {
          if (entry.timer) clearTimeout(entry.timer);
          if (!entry.abandoned) {
            entry.reject(new CallpopError('CALLPOP_ESL_DISCONNECTED', `connection to FreeSWITCH ESL at ${this.address} closed before the reply`));
          }
        }
      },
    };
  }

  private async handshake(io: LinkIo): Promise<void> {
    const authTimeoutMs = this.options.authTimeoutMs;
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
    io.greeted();
    const { username, password } = this.options;
    const reply = await this.send(username ? { kind: 'userauth', user: username, password } : { kind: 'auth', password }, authTimeoutMs);
    if (reply.type !== 'command-reply' || !reply.ok) {
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
    if (!this.subscribe || !io.alive) return;
    if (this.options.events.length > 0) {
      const sub = await this.send({ kind: 'event', format: this.options.eventFormat, events: this.options.events });
      if (sub.type !== 'command-reply' || !sub.ok) {
        const answer = sub.type === 'command-reply' ? sub.replyText : sub.type;
        // A userauth user's esl-allowed-events must list every event (and CUSTOM subclass) asked for.
        const hint = username && answer.includes('permission denied') ? `; user ${username} needs esl-allowed-events "${this.options.events.join(' ')}"` : '';
        const err = new CallpopError('CALLPOP_ESL_CONNECT', `FreeSWITCH ESL at ${this.address} refused the event subscription (${answer})${hint}`);
        // A permission refusal, not a connection problem: it backs off like a wrong password.
        io.fail(err, 'auth');
        throw err;
      }
    }
    for (const filter of this.options.filters) {
      const res = await this.send({ kind: 'filter', header: filter.header, value: filter.value });
      if (res.type !== 'command-reply' || !res.ok) {
        this.logger.warn({ header: filter.header, reply: res.type === 'command-reply' ? res.replyText : res.type }, 'ESL filter refused');
      }
    }
  }

  /** Causes already logged: a PBX that sends bad frames all day gets one line per cause, and counters. */
  private readonly warned = new Set<string>();

  private warnOnce(cause: string, fields: Record<string, unknown>, message: string): void {
    if (this.warned.has(cause)) return;
    this.warned.add(cause);
    this.logger.warn(fields, `${message} (logged once per cause; counted in callpop_pbx_frames_dropped_total)`);
  }

  private onMessage(io: LinkIo, message: EslMessage): void {
    switch (message.type) {
      case 'event':
        this.own.events += 1;
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
        this.own.skippedFrames += 1;
        this.warnOnce(`skipped ${message.error.code}`, { code: message.error.code, bytes: message.bytes, contentType: message.contentType }, message.error.message);
        if (message.contentType === 'command/reply' || message.contentType === 'api/response') this.settle(null, message.error);
        return;
      case 'error':
        this.own.frameErrors += 1;
        this.warnOnce(`error ${message.error.code}`, { code: message.error.code }, message.error.message);
        return;
      case 'rude-rejection':
        // mod_event_socket's ACL answer; the server closes right after. Like a refused
        // password it will not change in a second: the auth backoff applies.
        io.fail(connectError(this.address, `rejected by apply-inbound-acl (${message.body.trim().slice(0, 80)})`), 'auth');
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
}

/** Frames skipped or unreadable but survived (the link counts them as dropped). */
function countDropped(messages: readonly EslMessage[]): number {
  let n = 0;
  for (const m of messages) if (m.type === 'skipped' || m.type === 'error') n++;
  return n;
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
