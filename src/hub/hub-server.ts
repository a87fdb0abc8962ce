import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ValidateFunction } from 'ajv';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { validatorFor } from '../config/schema-ajv.js';
import { CallpopError } from '../model/errors.js';
import type { Lifecycle } from '../model/lifecycle.js';
import type { Logger } from '../model/logger.js';
import { agentPageHtml } from './agent-page.js';
import type { Deliverable } from './deliverable.js';
import type { HubConfig } from './hub-config.js';
import { HubSession } from './hub-session.js';
import { clientMessageSchemas, PROTOCOL_VERSION, type ClientMessage, type PickMessage } from './protocol.js';
import { requestPath } from './request-path.js';
import { allowsAgent, TokenAuth } from './token-auth.js';

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
/** A client that sends this many bad messages is disconnected; fewer are answered with `error`. */
const MAX_BAD_MESSAGES = 20;

interface Connection {
  socket: WebSocket;
  session: HubSession | null;
  alive: boolean;
  badMessages: number;
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
  private readonly sessions = new Map<string, HubSession>();
  /** agent extension (or `*`) -> sessions subscribed to it */
  private readonly subscribers = new Map<string, Set<HubSession>>();
  private readonly validators: Record<string, ValidateFunction>;
  private readonly connections = new Set<Connection>();
  private heartbeat: NodeJS.Timeout | null = null;

  constructor(private readonly options: HubServerOptions) {
    const { config } = options;
    this.auth = new TokenAuth(config.tokens);
    this.validators = Object.fromEntries(Object.entries(clientMessageSchemas).map(([type, schema]) => [type, validatorFor(schema)]));
    this.http = createServer((req, res) => {
      this.route(req, res).catch((err: unknown) => {
        options.logger.error({ err }, 'HTTP route failed');
        if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
      });
    });
    this.http.headersTimeout = 10_000;
    this.http.requestTimeout = 30_000;
    this.wss = new WebSocketServer({ noServer: true, maxPayload: config.max_payload_bytes });
    this.http.on('upgrade', (req, socket, head) => {
      // The request line is attacker-controlled: a path that is no URL is a 404, never an exception.
      if (requestPath(req.url) !== config.path) {
        socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
        return;
      }
      if (this.connections.size >= config.max_connections) {
        options.logger.warn({ max: config.max_connections }, 'refusing WebSocket: hub.max_connections reached');
        socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n');
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws));
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

  /** Sessions kept, live or detached awaiting `resume` (bounded by 2 x max_connections). */
  get sessionCount(): number {
    return this.sessions.size;
  }

  /**
   * Sends `message` to every session subscribed to its agent (or to `*`), each in its
   * token's role's variant. Returns the number of sessions it was handed to.
   */
  deliver(message: Deliverable): number {
    let delivered = 0;
    for (const key of [message.agent, '*']) {
      for (const session of this.subscribers.get(key) ?? []) {
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

  private accept(socket: WebSocket): void {
    const conn: Connection = { socket, session: null, alive: true, badMessages: 0 };
    this.connections.add(conn);
    const helloTimer = setTimeout(() => {
      if (!conn.session) this.reject(conn, CLOSE_HELLO_TIMEOUT, 'CALLPOP_HUB_PROTOCOL', 'send hello first');
    }, this.options.config.hello_timeout_ms);
    socket.on('pong', () => {
      conn.alive = true;
    });
    socket.on('message', (data, isBinary) => this.onMessage(conn, data, isBinary));
    socket.on('error', (err) => this.options.logger.debug({ err: err.message }, 'WebSocket error'));
    socket.on('close', () => {
      clearTimeout(helloTimer);
      this.connections.delete(conn);
      if (conn.session && conn.session.socket === socket) {
        conn.session.socket = null;
        conn.session.detachedAt = Date.now();
      }
    });
  }

  private onMessage(conn: Connection, data: RawData, isBinary: boolean): void {
    let message: ClientMessage;
    try {
      if (isBinary) throw new Error('binary frames are not part of the protocol; send JSON text');
      const parsed = JSON.parse(data.toString()) as unknown;
      const type = (parsed as { type?: unknown } | null)?.type;
      const validate = typeof type === 'string' ? this.validators[type] : undefined;
      if (!validate) throw new Error(`unknown message type ${JSON.stringify(type)}; expected hello, subscribe, ack or pick`);
      if (!validate(parsed)) {
        const e = validate.errors?.[0];
        throw new Error(`${type}${e?.instancePath ?? ''} ${e?.message ?? 'is invalid'}`);
      }
      message = parsed as ClientMessage;
    } catch (err) {
      this.protocolError(conn, `bad message: ${(err as Error).message}`);
      return;
    }
    if (message.type === 'hello') return this.onHello(conn, message);
    const session = conn.session;
    if (!session) return this.reject(conn, CLOSE_AUTH, 'CALLPOP_HUB_AUTH', 'send hello with a token first');
    if (message.type === 'subscribe') return this.onSubscribe(conn, session, message.agents);
    if (message.type === 'pick') return this.onPickMessage(conn, session, message);
    session.ack(message.seq);
  }

  private onHello(conn: Connection, hello: Extract<ClientMessage, { type: 'hello' }>): void {
    if (conn.session) return this.protocolError(conn, 'hello was already received on this connection');
    if (hello.v !== PROTOCOL_VERSION) {
      return this.reject(conn, CLOSE_VERSION, 'CALLPOP_HUB_PROTOCOL', `protocol version ${hello.v} is not supported; this server speaks ${PROTOCOL_VERSION}`);
    }
    const token = this.auth.find(hello.token);
    if (!token) return this.reject(conn, CLOSE_AUTH, 'CALLPOP_HUB_AUTH', 'unknown token');

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
      this.sweepSessions();
      this.evictDetachedSessions();
      session = new HubSession(randomUUID(), token, this.options.config.replay_max_messages);
      this.sessions.set(session.id, session);
    }
    if (session.socket && session.socket !== conn.socket) session.socket.close(4009, 'session resumed elsewhere');
    session.socket = conn.socket;
    conn.session = session;
    this.sendTo(conn, session.stamp(JSON.stringify({ type: 'welcome', session: session.id, resumed, allowed: token.agents, heartbeatMs: this.options.config.heartbeat_ms })));
    for (const text of replay ?? []) this.sendTo(conn, text);
    this.options.logger.info({ session: session.id, token: token.name ?? '(unnamed)', resumed }, 'agent client connected');
  }

  private onSubscribe(conn: Connection, session: HubSession, agents: string[]): void {
    const denied = agents.filter((a) => (a === '*' ? !session.token.agents.includes('*') : !allowsAgent(session.token, a)));
    if (denied.length > 0) {
      this.sendError(conn, 'CALLPOP_HUB_AUTH', `this token may not subscribe to ${denied.join(', ')}`);
      return;
    }
    for (const agent of agents) {
      session.agents.add(agent);
      let set = this.subscribers.get(agent);
      if (!set) this.subscribers.set(agent, (set = new Set()));
      set.add(session);
    }
    this.sendTo(conn, session.stamp(JSON.stringify({ type: 'subscribed', agents: [...session.agents] })));
    // A pop that is still ringing reaches an agent who (re)subscribes late.
    for (const message of this.options.snapshot?.(agents) ?? []) this.send(session, message.byRole?.get(session.token.role) ?? message.body);
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
      this.options.logger.warn({ session: session.id, buffered: socket.bufferedAmount }, 'dropping slow agent client (hub.max_buffered_bytes exceeded)');
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
    this.options.logger.debug({ message }, 'agent client protocol error');
    if (conn.badMessages >= MAX_BAD_MESSAGES) return this.reject(conn, CLOSE_PROTOCOL, 'CALLPOP_HUB_PROTOCOL', 'too many bad messages');
    this.sendError(conn, 'CALLPOP_HUB_PROTOCOL', message);
  }

  private reject(conn: Connection, closeCode: number, code: string, message: string): void {
    this.sendError(conn, code, message);
    conn.socket.close(closeCode, message.slice(0, 120));
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
    this.sweepSessions();
  }

  /**
   * Keeps sessions (live plus detached, kept for resume) at twice `max_connections`: a client
   * reconnecting in a loop without `resume` must not pile up sessions for the replay window.
   */
  private evictDetachedSessions(): void {
    const limit = this.options.config.max_connections * 2;
    for (const session of this.sessions.values()) {
      if (this.sessions.size < limit) return;
      if (!session.socket) this.forget(session);
    }
  }

  private forget(session: HubSession): void {
    this.sessions.delete(session.id);
    for (const agent of session.agents) {
      const set = this.subscribers.get(agent);
      set?.delete(session);
      if (set?.size === 0) this.subscribers.delete(agent);
    }
  }

  /** Forgets sessions detached longer than the replay window (bounded memory). */
  private sweepSessions(): void {
    const cutoff = Date.now() - this.options.config.replay_window_ms;
    for (const session of this.sessions.values()) {
      if (session.socket || session.detachedAt > cutoff) continue;
      this.forget(session);
    }
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    for (const route of this.options.routes ?? []) {
      if (await route(req, res, this.auth)) return;
    }
    if (req.method === 'GET' && requestPath(req.url) === '/' && this.options.config.agent_page) {
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        // The page renders caller data as text only; the CSP is a second fence.
        'content-security-policy': "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self' ws: wss:; img-src 'self' data:",
        'x-content-type-options': 'nosniff',
      });
      res.end(agentPageHtml(this.options.config.path));
      return;
    }
    sendJson(res, 404, { error: 'not found' });
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
