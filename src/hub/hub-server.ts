import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { CallpopError } from '../model/errors.js';
import type { Lifecycle } from '../model/lifecycle.js';
import type { Logger } from '../model/logger.js';
import { AGENT_PAGE_CSS, agentPageHtml, agentPageScript } from './agent-page.js';
import { ConnectionBudget } from './connection-budget.js';
import type { Deliverable } from './deliverable.js';
import { HelloThrottle } from './hello-throttle.js';
import type { HubConfig, HubToken } from './hub-config.js';
import type { HubSession } from './hub-session.js';
import { DropCounter, type HubStats } from './hub-stats.js';
import { originAllowed } from './origin-policy.js';
import { PROTOCOL_VERSION, type ClientMessage, type PickMessage } from './protocol.js';
import { parseClientMessage } from './client-message.js';
import { requestPath } from './request-path.js';
import { SessionBook } from './session-book.js';
import { allowsAgent, TokenAuth } from './token-auth.js';

export type { HubStats } from './hub-stats.js';

/** Extra HTTP routes (health, metrics, admin) the daemon mounts beside the WebSocket. */
export type HttpRoute = (req: IncomingMessage, res: ServerResponse, auth: TokenAuth) => boolean | Promise<boolean>;

/** Handles an agent's `pick`; rejects with a message for the client when it cannot be done. */
export type PickHandler = (pick: PickMessage) => Promise<void>;

/** The messages a client subscribing to `agents` is shown at once (pops still ringing). */
export type SnapshotProvider = (agents: readonly string[]) => Deliverable[];

export interface HubServerOptions {
  config: HubConfig;
  logger: Logger;
  routes?: HttpRoute[];
  onPick?: PickHandler;
  snapshot?: SnapshotProvider;
}

// WebSocket close codes (4000-4999 are the application's own; documented in docs/protocol.md).
const CLOSE_HELLO_TIMEOUT = 4001;
const CLOSE_AUTH = 4003;
const CLOSE_TOO_SLOW = 4008;
const CLOSE_PROTOCOL = 4400;
const CLOSE_VERSION = 4426;
const CLOSE_SESSIONS = 4409;
const CLOSE_THROTTLED = 4429;
const CLOSE_BUSY = 4503;
/** A client that sends this many bad messages is disconnected; fewer are answered with `error`. */
const MAX_BAD_MESSAGES = 20;
/** Same bound as one `subscribe` message's list (protocol.ts): several messages cannot add up past it. */
const MAX_SUBSCRIPTIONS_PER_SESSION = 500;
/** No route reads a request body; a bigger one is refused before it is read at all. */
const MAX_HTTP_BODY_BYTES = 64 * 1024;

interface Connection {
  socket: WebSocket;
  /** `req.socket.remoteAddress`: the key of the per-address budgets (behind a proxy, the proxy's). */
  address: string;
  session: HubSession | null;
  alive: boolean;
  badMessages: number;
  helloTimer: NodeJS.Timeout | null;
}

/**
 * Delivery only (DESIGN.md "Pop protocol"): WebSocket sessions of authorised agents, their
 * subscriptions, sequence numbers, replay and acks, plus the agent page and the daemon's HTTP
 * routes on the same port. It knows nothing of calls or mapping: what to send comes from the
 * pop stage as Deliverables, and what a new subscriber is shown from the snapshot provider.
 */
export class HubServer implements Lifecycle {
  readonly name = 'hub';
  private readonly http: Server;
  private readonly wss: WebSocketServer;
  private readonly auth: TokenAuth;
  private readonly sessions: SessionBook;
  private readonly connections = new Set<Connection>();
  /** Connections that said a valid hello; `max_connections` bounds these only. */
  private authenticated = 0;
  private readonly unauthenticated: ConnectionBudget<Connection>;
  private readonly helloThrottle: HelloThrottle;
  private readonly drops: DropCounter;
  private heartbeat: NodeJS.Timeout | null = null;

  constructor(private readonly options: HubServerOptions) {
    const { config } = options;
    this.auth = new TokenAuth(config.tokens);
    this.sessions = new SessionBook({
      // A client reconnecting in a loop without `resume` must not pile up sessions for the replay window.
      total: config.max_connections * 2,
      perToken: (token) => sessionLimitOf(token, config),
      replayWindowMs: config.replay_window_ms,
      replay: { maxMessages: config.replay_max_messages, maxBytes: config.replay_max_bytes },
    });
    this.unauthenticated = new ConnectionBudget({ total: config.max_unauthenticated, perAddress: config.max_unauthenticated_per_address });
    this.helloThrottle = new HelloThrottle({ maxFailures: config.auth_failures_max, windowMs: config.auth_failures_window_ms, blockMs: config.auth_block_ms });
    this.drops = new DropCounter(options.logger);
    this.http = createServer((req, res) => {
      if (this.refuseLargeBody(req, res)) return;
      this.route(req, res).catch((err: unknown) => {
        options.logger.error({ err }, 'HTTP route failed');
        if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
      });
    });
    this.http.headersTimeout = 10_000;
    this.http.requestTimeout = 30_000;
    this.wss = new WebSocketServer({ noServer: true, maxPayload: config.max_payload_bytes });
    this.http.on('upgrade', (req, socket, head) => {
      socket.on('error', () => {}); // a peer resetting mid-handshake is not the daemon's error
      const refuse = (status: string) => socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      // The request line is attacker-controlled: a path that is no URL is a 404, never an exception.
      if (requestPath(req.url) !== config.path) return refuse('404 Not Found');
      const address = req.socket.remoteAddress ?? 'unknown';
      if (!originAllowed(req.headers.origin, req.headers.host, config.allowed_origins)) {
        this.drops.drop('originsRefused', 'refusing WebSocket from a browser origin not in hub.allowed_origins', { origin: req.headers.origin?.slice(0, 200), address });
        return refuse('403 Forbidden');
      }
      if (this.authenticated >= config.max_connections) {
        this.drops.drop('connectionsRefused', 'refusing WebSocket: hub.max_connections agents connected', { max: config.max_connections });
        return refuse('503 Service Unavailable');
      }
      const admission = this.unauthenticated.admit(address);
      if (!admission.admitted) {
        this.drops.drop('unauthenticatedRefused', 'refusing WebSocket: too many connections from one address waiting for hello (hub.max_unauthenticated_per_address)', { address });
        return refuse('429 Too Many Requests');
      }
      if (admission.evict) {
        this.drops.drop('unauthenticatedEvicted', 'closing the oldest connection waiting for hello to make room (hub.max_unauthenticated)', { max: config.max_unauthenticated });
        this.closeUnauthenticated(admission.evict, 'too many connections waiting for hello');
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, address));
    });
  }

  /** Listens on the configured host/port (port 0 picks a free one; `port` tells which). */
  async start(): Promise<void> {
    const { host, port } = this.options.config;
    await new Promise<void>((resolve, reject) => {
      const fail = (err: NodeJS.ErrnoException) => {
        const why = err.code === 'EADDRINUSE' ? 'the port is in use' : err.code === 'EACCES' ? 'permission denied' : err.message;
        reject(new CallpopError('CALLPOP_HUB_LISTEN', `cannot listen on ${host}:${port}: ${why} (change hub.port / hub.host, or --port for the demo)`));
      };
      this.http.once('error', fail);
      this.http.listen(port, host, () => {
        this.http.off('error', fail);
        resolve();
      });
    });
    this.heartbeat = setInterval(() => this.beat(), this.options.config.heartbeat_ms);
    this.heartbeat.unref();
  }

  get port(): number {
    return (this.http.address() as AddressInfo | null)?.port ?? 0;
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Sessions kept, live or detached awaiting `resume` (bounded per token and by 2 x max_connections). */
  get sessionCount(): number {
    return this.sessions.size;
  }

  /**
   * What the hub refused or dropped to protect itself (monotonic counters since start) and its
   * current sizes; plain numbers, read by /metrics.
   */
  stats(): HubStats {
    return {
      ...this.drops.snapshot(),
      connections: this.connections.size,
      authenticated: this.authenticated,
      unauthenticated: this.unauthenticated.size,
      sessions: this.sessions.size,
    };
  }

  /**
   * Sends `message` to every session subscribed to its agent (or to `*`), each in its
   * token's role's variant. Returns the number of sessions it was handed to.
   */
  deliver(message: Deliverable): number {
    let delivered = 0;
    for (const key of [message.agent, '*']) {
      for (const session of this.sessions.subscribersOf(key)) {
        this.send(session, message.byRole?.get(session.token.role) ?? message.body);
        delivered += 1;
      }
    }
    return delivered;
  }

  /** Closes every agent connection (1001, going away) and the listener. */
  async stop(deadline: number): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    for (const conn of this.connections) conn.socket.close(1001, 'server shutting down');
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        for (const conn of this.connections) conn.socket.terminate();
        resolve();
      }, Math.max(0, Math.min(1000, deadline - Date.now())));
      timer.unref();
      this.wss.close(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    this.http.closeAllConnections();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }

  private accept(socket: WebSocket, address: string): void {
    const conn: Connection = { socket, address, session: null, alive: true, badMessages: 0, helloTimer: null };
    this.connections.add(conn);
    this.unauthenticated.add(conn, address);
    conn.helloTimer = setTimeout(() => {
      if (conn.session) return;
      this.drops.drop('helloTimeouts', 'closing connections that sent no hello within hub.hello_timeout_ms', { address });
      this.closeUnauthenticated(conn, 'send hello first');
    }, this.options.config.hello_timeout_ms);
    socket.on('pong', () => {
      conn.alive = true;
    });
    socket.on('message', (data, isBinary) => this.onMessage(conn, data, isBinary));
    // ws reports frames it cannot accept (invalid UTF-8, too big, bad opcode) here and closes with 1007/1009/1002.
    socket.on('error', (err) => this.drops.drop('badMessages', 'closing a WebSocket that sent an invalid frame', { address, err: err.message }));
    socket.on('close', () => {
      if (conn.helloTimer) clearTimeout(conn.helloTimer);
      this.connections.delete(conn);
      this.unauthenticated.release(conn);
      if (!conn.session) return;
      this.authenticated -= 1;
      if (conn.session.socket === socket) {
        conn.session.socket = null;
        conn.session.detachedAt = Date.now();
      }
    });
  }

  /** Closes a connection that has not said hello and frees its place at once, for a newcomer. */
  private closeUnauthenticated(conn: Connection, why: string): void {
    this.unauthenticated.release(conn);
    this.reject(conn, CLOSE_HELLO_TIMEOUT, 'CALLPOP_HUB_PROTOCOL', why);
  }

  private onMessage(conn: Connection, data: RawData, isBinary: boolean): void {
    let message: ClientMessage;
    try {
      if (isBinary) throw new Error('binary frames are not part of the protocol; send JSON text');
      message = parseClientMessage(data.toString());
    } catch (err) {
      this.protocolError(conn, `bad message: ${(err as Error).message}`);
      return;
    }
    if (message.type === 'hello') return this.onHello(conn, message);
    const session = conn.session;
    if (!session) {
      this.drops.drop('badMessages', 'closing a connection that sent a message before hello', { address: conn.address, type: message.type });
      return this.reject(conn, CLOSE_AUTH, 'CALLPOP_HUB_AUTH', 'send hello with a token first');
    }
    if (message.type === 'subscribe') return this.onSubscribe(conn, session, message.agents);
    if (message.type === 'pick') return this.onPickMessage(conn, session, message);
    if (message.seq > session.lastSeq) return this.protocolError(conn, `ack for seq ${message.seq}, but the last message sent was seq ${session.lastSeq}`);
    session.ack(message.seq);
  }

  private onHello(conn: Connection, hello: Extract<ClientMessage, { type: 'hello' }>): void {
    if (conn.session) return this.protocolError(conn, 'hello was already received on this connection');
    const { config, logger } = this.options;
    const now = Date.now();
    if (this.helloThrottle.blocked(conn.address, now)) {
      this.drops.drop('hellosThrottled', 'refusing hellos from an address with too many unknown tokens', { address: conn.address });
      return this.reject(conn, CLOSE_THROTTLED, 'CALLPOP_HUB_THROTTLED', `too many failed hellos from this address; retry in ${Math.ceil(config.auth_block_ms / 1000)} s`);
    }
    if (hello.v !== PROTOCOL_VERSION) {
      return this.reject(conn, CLOSE_VERSION, 'CALLPOP_HUB_PROTOCOL', `protocol version ${hello.v} is not supported; this server speaks ${PROTOCOL_VERSION}`);
    }
    const token = this.auth.find(hello.token);
    if (!token) {
      this.drops.drop('authFailures', 'refusing hellos with an unknown token', { address: conn.address });
      // Logged on the transition only: once per address per block, however long the guessing goes on.
      if (this.helloThrottle.fail(conn.address, now)) {
        logger.warn({ address: conn.address, blockMs: config.auth_block_ms }, 'blocking hellos from an address after hub.auth_failures_max unknown tokens');
      }
      return this.reject(conn, CLOSE_AUTH, 'CALLPOP_HUB_AUTH', 'unknown token');
    }
    if (this.authenticated >= config.max_connections) {
      this.drops.drop('connectionsRefused', 'refusing hello: hub.max_connections agents connected', { max: config.max_connections });
      return this.reject(conn, CLOSE_BUSY, 'CALLPOP_HUB_BUSY', 'the server has as many agents connected as hub.max_connections allows; retry later');
    }

    let session: HubSession | undefined;
    let replay: string[] | null = null;
    if (hello.resume) {
      const old = this.sessions.get(hello.resume.session);
      if (old && old.token === token) {
        replay = old.since(hello.resume.seq);
        if (replay) session = old;
      }
    }
    const resumed = session !== undefined;
    if (!session) {
      const opening = this.sessions.open(token, now);
      if (opening.evicted > 0) this.drops.drop('sessionsEvicted', 'forgetting detached sessions before their replay window ended (per-token or total session bound)', { token: token.name ?? '(unnamed)' }, opening.evicted);
      if (!opening.session) {
        this.drops.drop('sessionsRefused', 'refusing hello: every session this token may hold is live', { token: token.name ?? '(unnamed)', max: sessionLimitOf(token, config) });
        return this.reject(conn, CLOSE_SESSIONS, 'CALLPOP_HUB_SESSIONS', `this token already has ${sessionLimitOf(token, config)} live sessions (hub.max_sessions_per_token); close one or give this client its own token`);
      }
      session = opening.session;
    }
    if (conn.helloTimer) clearTimeout(conn.helloTimer);
    this.unauthenticated.release(conn);
    this.authenticated += 1;
    if (session.socket && session.socket !== conn.socket) session.socket.close(4009, 'session resumed elsewhere');
    session.socket = conn.socket;
    conn.session = session;
    this.sendTo(conn, session.stamp(JSON.stringify({ type: 'welcome', session: session.id, resumed, allowed: token.agents, heartbeatMs: config.heartbeat_ms })));
    for (const text of replay ?? []) this.sendTo(conn, text);
    logger.info({ session: session.id, token: token.name ?? '(unnamed)', resumed }, 'agent client connected');
  }

  private onSubscribe(conn: Connection, session: HubSession, agents: string[]): void {
    const denied = agents.filter((a) => (a === '*' ? !session.token.agents.includes('*') : !allowsAgent(session.token, a)));
    if (denied.length > 0) {
      this.sendError(conn, 'CALLPOP_HUB_AUTH', `this token may not subscribe to ${denied.join(', ')}`);
      return;
    }
    const added = new Set(agents.filter((a) => !session.agents.has(a)));
    if (session.agents.size + added.size > MAX_SUBSCRIPTIONS_PER_SESSION) {
      return this.protocolError(conn, `a session may subscribe to at most ${MAX_SUBSCRIPTIONS_PER_SESSION} extensions; subscribe to "*" for all`);
    }
    this.sessions.subscribe(session, agents);
    // The calls in progress first, then `subscribed`: a client knows the snapshot is complete
    // when `subscribed` arrives, and can close cards of calls it no longer lists.
    for (const message of this.options.snapshot?.(agents) ?? []) this.send(session, message.byRole?.get(session.token.role) ?? message.body);
    this.sendTo(conn, session.stamp(JSON.stringify({ type: 'subscribed', agents: [...session.agents] })));
  }

  private onPickMessage(conn: Connection, session: HubSession, pick: PickMessage): void {
    if (!allowsAgent(session.token, pick.agent)) return this.sendError(conn, 'CALLPOP_HUB_AUTH', `this token may not act for agent ${pick.agent}`);
    const handler = this.options.onPick;
    if (!handler) return this.sendError(conn, 'CALLPOP_HUB_PROTOCOL', 'pick is not available');
    handler(pick).catch((err: unknown) => this.sendError(conn, 'CALLPOP_HUB_PROTOCOL', `pick failed: ${(err as Error).message}`));
  }

  private send(session: HubSession, body: string): void {
    const text = session.stamp(body);
    const socket = session.socket;
    if (!socket) return; // buffered for resume
    if (socket.bufferedAmount > this.options.config.max_buffered_bytes) {
      this.drops.drop('slowClientsDropped', 'dropping slow agent client (hub.max_buffered_bytes exceeded)', { session: session.id, buffered: socket.bufferedAmount });
      socket.close(CLOSE_TOO_SLOW, 'client too slow');
      socket.terminate();
      return;
    }
    socket.send(text);
  }

  private sendTo(conn: Connection, text: string): void {
    if (conn.socket.readyState === conn.socket.OPEN) conn.socket.send(text);
  }

  private sendError(conn: Connection, code: string, message: string): void {
    const body = JSON.stringify({ type: 'error', code, message });
    const text = conn.session ? conn.session.stamp(body) : `{"v":${PROTOCOL_VERSION},"seq":0,${body.slice(1)}`;
    this.sendTo(conn, text);
  }

  private protocolError(conn: Connection, message: string): void {
    conn.badMessages += 1;
    // The client gets the details; the log does not: V8's JSON errors quote the input, which
    // for a malformed hello is part of a token.
    this.drops.drop('badMessages', 'answering malformed agent client messages with error', { address: conn.address });
    if (conn.badMessages >= MAX_BAD_MESSAGES) return this.reject(conn, CLOSE_PROTOCOL, 'CALLPOP_HUB_PROTOCOL', 'too many bad messages');
    this.sendError(conn, 'CALLPOP_HUB_PROTOCOL', message);
  }

  private reject(conn: Connection, closeCode: number, code: string, message: string): void {
    this.sendError(conn, code, message);
    // A close reason is at most 123 bytes of UTF-8.
    conn.socket.close(closeCode, Buffer.from(message).subarray(0, 120).toString());
    // ws waits 30 s for the peer's close frame; a refused peer that never answers must not
    // hold its place (in the unauthenticated budget, or the connection count) that long.
    setTimeout(() => conn.socket.terminate(), 1000).unref();
  }

  private beat(): void {
    for (const conn of this.connections) {
      if (!conn.alive) {
        conn.socket.terminate();
        continue;
      }
      conn.alive = false;
      conn.socket.ping();
    }
    this.sessions.sweep(Date.now());
  }

  /**
   * Refuses (413) a request announcing a body bigger than any route reads, and cuts a chunked
   * one that grows past it, instead of reading and discarding megabytes.
   */
  private refuseLargeBody(req: IncomingMessage, res: ServerResponse): boolean {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (!(declared > MAX_HTTP_BODY_BYTES)) {
      let seen = 0;
      // No route reads a body, so reading it here (and discarding it) takes nothing from them.
      req.on('data', (chunk: Buffer) => {
        seen += chunk.length;
        if (seen > MAX_HTTP_BODY_BYTES) {
          this.drops.drop('httpBodiesRefused', 'cutting an HTTP request whose body is bigger than any route reads', { address: req.socket.remoteAddress, path: requestPath(req.url)?.slice(0, 100) });
          req.socket.destroy();
        }
      });
      return false;
    }
    this.drops.drop('httpBodiesRefused', 'refusing an HTTP request whose body is bigger than any route reads', { address: req.socket.remoteAddress, path: requestPath(req.url)?.slice(0, 100), bytes: declared });
    res.shouldKeepAlive = false;
    sendJson(res, 413, { error: `request body too large (at most ${MAX_HTTP_BODY_BYTES} bytes)` });
    res.on('finish', () => req.socket.destroySoon());
    return true;
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    for (const route of this.options.routes ?? []) {
      if (await route(req, res, this.auth)) return;
    }
    const { config } = this.options;
    const path = requestPath(req.url);
    if (req.method === 'GET' && config.agent_page) {
      if (path === '/') return sendAsset(res, 'text/html; charset=utf-8', agentPageHtml(), pageHeaders(config.frame_ancestors));
      if (path === '/agent.js') return sendAsset(res, 'text/javascript; charset=utf-8', agentPageScript(config.path));
      if (path === '/agent.css') return sendAsset(res, 'text/css; charset=utf-8', AGENT_PAGE_CSS);
    }
    sendJson(res, 404, { error: 'not found' });
  }
}

/** Sessions `token` may hold: its own `max_sessions`, else the default for its kind. */
function sessionLimitOf(token: HubToken, config: HubConfig): number {
  return token.max_sessions ?? (token.agents.includes('*') ? config.max_sessions_per_wildcard_token : config.max_sessions_per_token);
}

/**
 * The agent page's fences besides textContent: scripts and styles from this origin only, no
 * inline code (so an injection cannot run), and no framing by other sites (clickjacking a
 * pick) unless `hub.frame_ancestors` lists them.
 */
function pageHeaders(frameAncestors: readonly string[]): Record<string, string> {
  const ancestors = frameAncestors.length > 0 ? frameAncestors.join(' ') : "'none'";
  const headers: Record<string, string> = {
    'content-security-policy': `default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors ${ancestors}`,
    'referrer-policy': 'no-referrer',
  };
  // X-Frame-Options cannot list origins (ALLOW-FROM is gone from browsers): sent only to deny,
  // for browsers that predate frame-ancestors.
  if (frameAncestors.length === 0) headers['x-frame-options'] = 'DENY';
  return headers;
}

function sendAsset(res: ServerResponse, contentType: string, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(200, { ...headers, 'content-type': contentType, 'content-length': Buffer.byteLength(body), 'x-content-type-options': 'nosniff', 'cache-control': 'no-cache' });
  res.end(body);
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
