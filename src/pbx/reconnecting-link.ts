import { EventEmitter } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import type { CallpopError } from '../model/errors.js';
import { describeError } from '../model/errors.js';
import type { Logger } from '../model/logger.js';
import type { LinkStats, PbxStatus } from './pbx-adapter.js';
import type { LinkFailureKind, ReconnectSettings } from './reconnect-policy.js';
import { reconnectDelay } from './reconnect-policy.js';

/**
 * The part of a PBX connection that AMI and ESL share: TCP or TLS connect, a timeout until
 * the peer greets, keep-alive, reconnect under one policy (reconnect-policy.ts), status and
 * statistics. The protocol side (codec, login, request correlation, subscription) plugs in
 * as a `LinkProtocol`; it never touches the socket, only the `LinkIo` of its session.
 */

export type { LinkFailureKind } from './reconnect-policy.js';

/** Where a session is: decides the wording of errors and the reconnect family. */
export type LinkStage = 'connecting' | 'greeting' | 'login' | 'ready';

export interface LinkTlsOptions {
  /** PEM of the CA (or the self-signed certificate) the PBX presents. */
  ca?: string | Buffer;
  servername?: string;
  rejectUnauthorized: boolean;
}

/** What a protocol gives its session to talk through; valid until the session closes. */
export interface LinkIo {
  /** Whether this session's socket is still the link's and open. */
  readonly alive: boolean;
  readonly stage: LinkStage;
  write(bytes: string | Buffer): void;
  /** The peer spoke the protocol (greeting, auth/request): the connect timeout stops here. */
  greeted(): void;
  /** Logged in (and subscribed): events flow, status becomes `connected`. */
  ready(): void;
  /** Ends this session; `kind` picks the reconnect delay. The first reason wins. */
  fail(err: CallpopError, kind: LinkFailureKind): void;
  /** Frames decoded / frames skipped but recovered from (statistics). */
  countFrames(decoded: number, dropped?: number): void;
}

/** One session of a protocol, on one socket. */
export interface LinkSession {
  /** Bytes from the PBX. A throw is a protocol error: logged, counted, link reopened. */
  data(chunk: Buffer): void;
  /** Keep-alive probe, every `pingIntervalMs` once ready; a rejection ends the session. */
  ping?(): Promise<void>;
  /** Best-effort goodbye (`Logoff`) written before `stop()` closes a ready session. */
  goodbye?(): void;
  /** The socket is gone: fail whatever waits on this session with `err`. */
  closed(err: CallpopError): void;
}

/** Secret-free errors in the protocol's own words (they say which config file to check). */
export interface LinkErrors {
  socket(err: NodeJS.ErrnoException, stage: LinkStage): CallpopError;
  /** The peer closed without a word. */
  closed(stage: LinkStage): CallpopError;
  connectTimeout(ms: number): CallpopError;
  idle(ms: number): CallpopError;
  /** The codec (or a handler of its output) threw. */
  protocol(cause: unknown): CallpopError;
  stopped(): CallpopError;
  aborted(): CallpopError;
}

export interface LinkProtocol {
  /** `AMI`, `ESL`: in log lines. */
  readonly name: string;
  readonly errors: LinkErrors;
  /** Called after every TCP (and TLS) connect; the session then greets and logs in. */
  open(io: LinkIo): LinkSession;
}

export interface ReconnectingLinkOptions {
  pbxId: string;
  host: string;
  port: number;
  /** Present: connect with TLS. */
  tls?: LinkTlsOptions;
  /** TCP connect, TLS handshake and the greeting must be done within this. */
  connectTimeoutMs: number;
  reconnect: ReconnectSettings;
  /** A `ping()` every this many ms once ready; 0: none. */
  pingIntervalMs: number;
  /** Nothing received for this long once ready: the session is dead. 0: off. */
  idleTimeoutMs: number;
  /** Already bound to `pbx`. */
  logger: Logger;
  protocol: LinkProtocol;
}

export interface ReconnectingLinkEvents {
  /** Logged in (after every reconnect). */
  up: [];
  /** A session ended (not by `stop()`); the next attempt is scheduled unless in `connectOnce`. */
  down: [CallpopError, LinkFailureKind];
  status: [PbxStatus];
}

/** A repeated failure is logged at warn at most this often; the others go to debug. */
const REPEAT_WARN_MS = 60_000;
/** `stop()` waits this long for the peer to close after our goodbye. */
const GOODBYE_WAIT_MS = 200;

interface Session {
  socket: net.Socket;
  stage: LinkStage;
  proto: LinkSession | null;
  failure: { err: CallpopError; kind: LinkFailureKind } | null;
  connectTimer: NodeJS.Timeout | null;
  pingTimer: NodeJS.Timeout | null;
  idleTimer: NodeJS.Timeout | null;
  closedDone: Promise<void>;
}

export class ReconnectingLink extends EventEmitter<ReconnectingLinkEvents> {
  private readonly options: ReconnectingLinkOptions;
  private readonly logger: Logger;
  private readonly counters: LinkStats = {
    connectAttempts: 0,
    connects: 0,
    disconnects: 0,
    authFailures: 0,
    bytesIn: 0,
    framesIn: 0,
    framesDropped: 0,
    protocolErrors: 0,
  };
  private session: Session | null = null;
  private running = false;
  /** Set during `connectOnce`: one attempt, its outcome goes here instead of a reconnect. */
  private onceWaiter: { resolve(): void; reject(err: CallpopError): void } | null = null;
  /** Started by `connectOnce`: a session that ends is not reopened, even after it succeeded. */
  private oneShot = false;
  private retryTimer: NodeJS.Timeout | null = null;
  /** Consecutive failures per family (reconnect-policy.ts); both reset on login. */
  private connectFailures = 0;
  private authFailuresInRow = 0;
  private lastFailure: CallpopError | null = null;
  private lastStatus: PbxStatus['state'] | null = null;
  private lastWarn: { code: string; at: number } | null = null;

  constructor(options: ReconnectingLinkOptions) {
    super();
    this.options = options;
    this.logger = options.logger;
  }

  /** `host:port` as users write it, for messages. */
  get address(): string {
    return `${this.options.host}:${this.options.port}`;
  }

  get connected(): boolean {
    return this.session?.stage === 'ready';
  }

  /** The error that ended the last session or attempt (secret-free), for `check` and /healthz. */
  get lastError(): CallpopError | null {
    return this.lastFailure;
  }

  /** A copy of the counters. */
  stats(): LinkStats {
    return { ...this.counters };
  }

  /** Connects and keeps reconnecting until `stop()`. Never throws. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.oneShot = false;
    this.connectFailures = 0;
    this.authFailuresInRow = 0;
    this.open();
  }

  /**
   * One attempt without reconnects (`callpop check`): resolves once logged in, rejects with
   * the first failure. Call `stop()` afterwards.
   */
  connectOnce(signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(this.options.protocol.errors.aborted());
        return;
      }
      const onAbort = (): void => {
        const session = this.session;
        if (session) this.failSession(session, this.options.protocol.errors.aborted(), 'connect');
        else this.onceWaiter?.reject(this.options.protocol.errors.aborted());
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
          this.running = false;
          reject(err);
        },
      };
      this.running = true;
      this.oneShot = true;
      this.open();
    });
  }

  /** Says goodbye when logged in, closes, cancels reconnects; resolves once the socket is closed. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const session = this.session;
    if (session) {
      session.failure ??= { err: this.options.protocol.errors.stopped(), kind: 'dropped' };
      const socket = session.socket;
      if (session.stage === 'ready' && socket.writable && session.proto?.goodbye) {
        try {
          session.proto.goodbye();
        } catch {
          // Closing anyway.
        }
        const timer = setTimeout(() => socket.destroy(), GOODBYE_WAIT_MS);
        socket.end();
        await session.closedDone;
        clearTimeout(timer);
      } else {
        socket.destroy();
        await session.closedDone;
      }
    }
    this.setStatus({ pbxId: this.options.pbxId, state: 'stopped' });
  }

  private open(): void {
    this.retryTimer = null;
    if (!this.running) return;
    const { host, port, tls: tlsOptions } = this.options;
    this.counters.connectAttempts += 1;
    this.setStatus({ pbxId: this.options.pbxId, state: 'connecting' });
    const socket = tlsOptions
      ? tls.connect({
          host,
          port,
          ca: tlsOptions.ca,
          servername: tlsOptions.servername ?? (net.isIP(host) ? undefined : host),
          rejectUnauthorized: tlsOptions.rejectUnauthorized,
        })
      : net.connect({ host, port });
    let closed!: () => void;
    const session: Session = {
      socket,
      stage: 'connecting',
      proto: null,
      failure: null,
      connectTimer: null,
      pingTimer: null,
      idleTimer: null,
      closedDone: new Promise<void>((r) => (closed = r)),
    };
    this.session = session;
    socket.setNoDelay(true);
    // A port that accepts but never speaks the protocol fails here instead of hanging.
    session.connectTimer = setTimeout(() => {
      this.failSession(session, this.options.protocol.errors.connectTimeout(this.options.connectTimeoutMs), 'connect');
    }, this.options.connectTimeoutMs);
    socket.once(tlsOptions ? 'secureConnect' : 'connect', () => {
      if (this.session !== session || socket.destroyed) return;
      session.stage = 'greeting';
      socket.setKeepAlive(true, 15_000);
      session.proto = this.options.protocol.open(this.ioFor(session));
    });
    socket.on('data', (chunk: Buffer) => this.onData(session, chunk));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.failSession(session, this.options.protocol.errors.socket(err, session.stage), session.stage === 'ready' ? 'dropped' : 'connect');
    });
    socket.on('close', () => {
      this.onClose(session);
      closed();
    });
  }

  private ioFor(session: Session): LinkIo {
    const link = this;
    return {
      get alive() {
        return link.session === session && !session.socket.destroyed;
      },
      get stage() {
        return session.stage;
      },
      write(bytes) {
        if (link.session === session && session.socket.writable) session.socket.write(bytes);
      },
      greeted() {
        if (session.connectTimer) clearTimeout(session.connectTimer);
        session.connectTimer = null;
        if (session.stage === 'greeting') session.stage = 'login';
      },
      ready() {
        link.onReady(session);
      },
      fail(err, kind) {
        link.failSession(session, err, kind);
      },
      countFrames(decoded, dropped = 0) {
        link.counters.framesIn += decoded;
        link.counters.framesDropped += dropped;
      },
    };
  }

  private onData(session: Session, chunk: Buffer): void {
    if (this.session !== session || !session.proto) return;
    this.counters.bytesIn += chunk.length;
    session.idleTimer?.refresh();
    try {
      session.proto.data(chunk);
    } catch (err) {
      // A stream the codec cannot frame (or a handler bug) must not kill the daemon, and
      // decoding on would read garbage: drop the session, reopen, the adapter resyncs.
      this.counters.protocolErrors += 1;
      const error = this.options.protocol.errors.protocol(err);
      this.logger.error({ code: error.code, err: describeError(err) }, `${this.options.protocol.name} stream could not be decoded; reconnecting`);
      this.failSession(session, error, 'protocol');
    }
  }

  private onReady(session: Session): void {
    if (this.session !== session || session.socket.destroyed || session.stage === 'ready') return;
    if (session.connectTimer) clearTimeout(session.connectTimer);
    session.connectTimer = null;
    session.stage = 'ready';
    this.connectFailures = 0;
    this.authFailuresInRow = 0;
    this.lastFailure = null;
    this.lastWarn = null;
    this.counters.connects += 1;
    this.startKeepAlive(session);
    if (this.onceWaiter) {
      this.onceWaiter.resolve();
      return;
    }
    this.setStatus({ pbxId: this.options.pbxId, state: 'connected' });
    this.emit('up');
  }

  private startKeepAlive(session: Session): void {
    const { pingIntervalMs, idleTimeoutMs } = this.options;
    const proto = session.proto;
    if (pingIntervalMs > 0 && proto?.ping) {
      session.pingTimer = setInterval(() => {
        if (this.session !== session) return;
        proto.ping!().catch((err: CallpopError) => this.failSession(session, err, 'dropped'));
      }, pingIntervalMs);
      session.pingTimer.unref();
    }
    if (idleTimeoutMs > 0) {
      session.idleTimer = setTimeout(() => {
        this.logger.warn({ idleMs: idleTimeoutMs }, `nothing from ${this.options.protocol.name} for ${idleTimeoutMs} ms; reconnecting`);
        this.failSession(session, this.options.protocol.errors.idle(idleTimeoutMs), 'dropped');
      }, idleTimeoutMs);
      session.idleTimer.unref();
    }
  }

  /** Ends a session with a reason; `close` then decides what comes next. */
  private failSession(session: Session, err: CallpopError, kind: LinkFailureKind): void {
    if (this.session !== session) return;
    session.failure ??= { err, kind };
    session.socket.destroy();
  }

  private onClose(session: Session): void {
    if (session.connectTimer) clearTimeout(session.connectTimer);
    if (session.pingTimer) clearInterval(session.pingTimer);
    if (session.idleTimer) clearTimeout(session.idleTimer);
    if (this.session !== session) return;
    this.session = null;
    const wasReady = session.stage === 'ready';
    const { err, kind } = session.failure ?? {
      err: this.options.protocol.errors.closed(session.stage),
      kind: wasReady ? ('dropped' as const) : ('connect' as const),
    };
    try {
      session.proto?.closed(err);
    } catch (cause) {
      this.logger.error({ err: describeError(cause) }, `${this.options.protocol.name} session cleanup failed`);
    }
    if (!this.running) return;
    if (wasReady) this.counters.disconnects += 1;
    if (kind === 'auth') this.counters.authFailures += 1;
    this.lastFailure = err;
    if (this.onceWaiter) {
      this.onceWaiter.reject(err);
      return;
    }
    if (this.oneShot) {
      this.running = false;
      return;
    }
    const attempt = kind === 'auth' ? this.authFailuresInRow++ : this.connectFailures++;
    const delay = reconnectDelay(kind, attempt, this.options.reconnect);
    this.logFailure(err, kind, wasReady, delay);
    this.setStatus({ pbxId: this.options.pbxId, state: kind === 'auth' ? 'auth-failed' : 'disconnected', reason: err.message, retryInMs: delay });
    this.emit('down', err, kind);
    // `down` listeners may have stopped the link.
    if (this.running && !this.retryTimer) this.retryTimer = setTimeout(() => this.open(), delay);
  }

  /**
   * Probing every second through a long outage must not write a line a second: a failure
   * like the previous one is logged at warn once a minute, at debug otherwise.
   */
  private logFailure(err: CallpopError, kind: LinkFailureKind, wasReady: boolean, retryInMs: number): void {
    const now = Date.now();
    const line = { code: err.code, retryInMs, attempts: this.counters.connectAttempts };
    const repeated = this.lastWarn !== null && this.lastWarn.code === err.code && now - this.lastWarn.at < REPEAT_WARN_MS;
    const name = this.options.protocol.name;
    if (repeated) {
      this.logger.debug(line, `${name} connection failed again: ${err.message}`);
      return;
    }
    this.lastWarn = { code: err.code, at: now };
    if (kind === 'auth') this.logger.error(line, err.message);
    else if (wasReady) this.logger.warn(line, `${name} connection lost: ${err.message}`);
    else this.logger.warn(line, `${name} connection failed: ${err.message}`);
  }

  private setStatus(status: PbxStatus): void {
    // Every failure is reported (its retry delay changes); a repeated `connecting` is not.
    if (status.state === this.lastStatus && status.state !== 'disconnected' && status.state !== 'auth-failed') return;
    this.lastStatus = status.state;
    this.emit('status', status);
  }
}
