import type { EventEmitter } from 'node:events';
import type { HealthStatus } from '../model/health.js';
import type { Party } from '../model/call-event.js';
import type { ActiveLeg, LegEvent } from '../model/leg-event.js';
import type { Logger } from '../model/logger.js';

/** Connection state of one PBX, for logs, metrics and /healthz. */
export interface PbxStatus {
  pbxId: string;
  state: 'connecting' | 'connected' | 'disconnected' | 'auth-failed' | 'stopped';
  /** Secret-free reason for the last failure, if any. */
  reason?: string;
  /** When `state` is `disconnected`: ms until the next attempt. */
  retryInMs?: number;
}

/**
 * Counters of one PBX link since the daemon started (never reset; Prometheus counters).
 * The same figures for Asterisk and FreeSWITCH, kept by src/pbx/reconnecting-link.ts.
 */
export interface LinkStats {
  /** TCP (or TLS) connects tried. */
  connectAttempts: number;
  /** Sessions that got as far as logged in (and subscribed). */
  connects: number;
  /** Logged-in sessions that ended for any reason but `stop()`. */
  disconnects: number;
  /** Logins (or ACL / permission checks) the PBX refused. */
  authFailures: number;
  bytesIn: number;
  /** Frames decoded (events, responses, replies). */
  framesIn: number;
  /** Frames skipped and reported without losing the link (oversized, malformed). */
  framesDropped: number;
  /** Byte streams that could not be decoded at all: the session was dropped and reopened. */
  protocolErrors: number;
}

/** An early sign of a call (trunk channel created, before any agent rings): start the lookup. */
export interface EarlyCall {
  pbxId: string;
  callId: string;
  caller: Party;
  anonymous: boolean;
}

export interface PbxAdapterEvents {
  /** A normalised fact about an agent leg; the call tracker consumes these. */
  leg: [LegEvent];
  /** After every (re)connect: the PBX's list of active agent legs, for the tracker's resync. */
  resync: [ActiveLeg[]];
  early: [EarlyCall];
  status: [PbxStatus];
}

/**
 * One PBX connection (AMI or ESL) with its codec, login, keep-alive, reconnect and
 * normaliser. It knows nothing of CRMs or agents' WebSockets.
 */
export interface PbxAdapter extends EventEmitter<PbxAdapterEvents> {
  readonly id: string;
  readonly type: string;
  /** Starts connecting; reconnects with backoff until `stop()`. Never throws. */
  start(): void;
  /** Closes the connection and cancels reconnects. */
  stop(): Promise<void>;
  /**
   * The agent extension for a device (`PJSIP/1001` -> `1001`), from this PBX's `agents`
   * config; null when the device is not an agent's (a trunk, a gateway).
   */
  agentFor(device: string): string | null;
  /** Connects once, logs in, closes: proves the credentials for `callpop check`. */
  check(signal: AbortSignal): Promise<HealthStatus>;
  /** The link's counters, read by /metrics at scrape time (a snapshot, cheap). */
  linkStats(): LinkStats;
}

export interface PbxAdapterContext {
  logger: Logger;
}

/** Registered per PBX type; `configSchema` validates one `pbx[]` entry of that type. */
export interface PbxAdapterDefinition<C = unknown> {
  type: string;
  configSchema: object;
  create(config: C, ctx: PbxAdapterContext): PbxAdapter;
}
