import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import type { HealthStatus } from '../../model/health.js';
import { CallpopError, describeError } from '../../model/errors.js';
import type { Logger } from '../../model/logger.js';
import { ResyncGate } from '../resync-gate.js';
import type { LinkStats, PbxAdapter, PbxAdapterContext, PbxAdapterDefinition, PbxAdapterEvents } from '../pbx-adapter.js';
import type { AmiConnectionOptions } from './ami-connection.js';
import { AmiConnection } from './ami-connection.js';
import type { AsteriskConfig } from './asterisk-config.js';
import { agentResolver, asteriskConfigSchema } from './asterisk-config.js';
import { AsteriskNormaliser, type AsteriskNormaliserOptions } from './asterisk-normaliser.js';

export { AmiDecoder, encodeAction, encodeMessage } from './ami-codec.js';
export type { AmiDecoded, AmiMessage } from './ami-codec.js';
export { AmiActionError, AmiConnection } from './ami-connection.js';
export type { AmiConnectionOptions, AmiListResult } from './ami-connection.js';
export { agentResolver, asteriskConfigSchema, DEFAULT_AGENT_PATTERN } from './asterisk-config.js';
export type { AsteriskConfig } from './asterisk-config.js';
export { AsteriskNormaliser, deviceOf } from './asterisk-normaliser.js';

/** CoreShowChannels is registered with the system and reporting privileges (manager.c). */
const RESYNC_PRIVILEGE_HINT = 'CoreShowChannels needs "write = reporting" (or system) for this user in manager.conf';

/**
 * The Asterisk PBX adapter: AMI connection + normaliser behind the PbxAdapter seam.
 * After every login it lists the active channels (`CoreShowChannels`) and emits
 * `resync`, so the tracker neither re-pops nor loses an `ended` across a reconnect.
 */
export class AsteriskAdapter extends EventEmitter<PbxAdapterEvents> implements PbxAdapter {
  readonly id: string;
  readonly type = 'asterisk' as const;
  /** The AMI connection, for actions (Originate, Redirect, Getvar...). */
  readonly ami: AmiConnection;
  private readonly config: AsteriskConfig;
  private readonly logger: Logger;
  private readonly baseLogger: Logger;
  private readonly resolveAgent: (device: string) => string | null;
  private readonly normaliser: AsteriskNormaliser;
  /** Holds events while the resync list is in flight (order kept) and isolates each event. */
  private readonly gate: ResyncGate<{ event: Record<string, string>; at: number }>;

  constructor(config: AsteriskConfig, ctx: PbxAdapterContext) {
    super();
    this.id = config.id;
    this.config = config;
    this.baseLogger = ctx.logger;
    this.logger = ctx.logger.child({ pbx: config.id });
    this.resolveAgent = agentResolver(config.agents, `pbx ${config.id}: agents`);
    this.normaliser = new AsteriskNormaliser({ ...normaliserOptions(config), agentFor: this.resolveAgent, logger: this.logger });
    this.gate = new ResyncGate((item) => this.dispatch(item.event, item.at), this.logger);
    this.ami = new AmiConnection(connectionOptions(config, ctx.logger));
    this.ami.on('event', (event, at) => this.gate.push({ event, at }));
    this.ami.on('status', (status) => this.emit('status', status));
    this.ami.on('connected', () => void this.resync());
  }

  start(): void {
    this.ami.start();
  }

  async stop(): Promise<void> {
    await this.ami.stop();
  }

  linkStats(): LinkStats {
    return this.ami.linkStats();
  }

  agentFor(device: string): string | null {
    return this.resolveAgent(device);
  }

  /** Proves what the daemon will need: the login, and CoreShowChannels for the resync after every reconnect. */
  async check(signal: AbortSignal): Promise<HealthStatus> {
    const probe = new AmiConnection({ ...connectionOptions(this.config, this.baseLogger), pingIntervalMs: 0 });
    try {
      await probe.connectOnce(signal);
      const mode = this.config.tls.enabled ? 'TLS' : 'TCP';
      const loggedIn = `logged in to Asterisk AMI at ${probe.address} as "${this.config.username}" (${mode}, ${this.config.auth} auth)`;
      let channels: number;
      try {
        channels = (await probe.actionList('CoreShowChannels', {}, { signal, completeEvent: 'CoreShowChannelsComplete' })).events.length;
      } catch (err) {
        return { ok: false, detail: `${loggedIn}, but ${describeError(err)}; ${RESYNC_PRIVILEGE_HINT}` };
      }
      return { ok: true, detail: `${loggedIn}, ${channels} channel(s) up` };
    } catch (err) {
      return { ok: false, detail: describeError(err) };
    } finally {
      await probe.stop();
    }
  }

  private dispatch(event: Record<string, string>, at: number): void {
    const out = this.normaliser.handle(event, at);
    for (const early of out.early) this.emit('early', early);
    for (const leg of out.legs) this.emit('leg', leg);
  }

  private async resync(): Promise<void> {
    this.gate.hold();
    try {
      const list = await this.ami.actionList('CoreShowChannels', {}, { completeEvent: 'CoreShowChannelsComplete' });
      // A cut list would read as "these calls are gone" and end them: keep the state instead.
      if (list.truncated) throw new CallpopError('CALLPOP_AMI_FRAME', `CoreShowChannels listed more than ${list.events.length} channels; the list was cut`);
      const legs = this.normaliser.resync(list.events);
      this.logger.info({ channels: list.events.length, agentLegs: legs.length }, 'AMI resync from CoreShowChannels');
      this.emit('resync', legs);
    } catch (err) {
      // Without the list the tracker keeps its state; events keep flowing.
      this.logger.warn({ err: describeError(err), code: err instanceof CallpopError ? err.code : undefined }, `AMI CoreShowChannels failed; resync skipped (${RESYNC_PRIVILEGE_HINT})`);
    } finally {
      this.gate.release();
    }
  }
}

/** The normaliser's settings from a validated config block (the schema holds their defaults). */
export function normaliserOptions(config: AsteriskConfig): Pick<AsteriskNormaliserOptions, 'pbxId' | 'maxChannels'> {
  return { pbxId: config.id, maxChannels: config.limits.max_channels };
}

/** Maps a validated config block to connection options (reads the TLS CA file here, once). */
export function connectionOptions(config: AsteriskConfig, logger: Logger): AmiConnectionOptions {
  let tls: AmiConnectionOptions['tls'];
  if (config.tls.enabled) {
    let ca: Buffer | undefined;
    if (config.tls.ca_file) {
      try {
        ca = readFileSync(config.tls.ca_file);
      } catch (err) {
        throw new CallpopError('CALLPOP_CONFIG_INVALID', `pbx ${config.id}: tls.ca_file ${config.tls.ca_file} cannot be read: ${describeError(err)}`);
      }
    }
    tls = { ca, servername: config.tls.servername, rejectUnauthorized: config.tls.reject_unauthorized };
  }
  return {
    pbxId: config.id,
    host: config.host,
    port: config.port,
    username: config.username,
    secret: config.secret,
    auth: config.auth,
    tls,
    events: config.events,
    filters: config.filters,
    maxFrameBytes: config.limits.max_frame_bytes,
    connectTimeoutMs: config.timeouts.connect_ms,
    actionTimeoutMs: config.timeouts.action_ms,
    pingIntervalMs: config.timeouts.ping_interval_ms,
    pingTimeoutMs: config.timeouts.ping_timeout_ms,
    reconnect: { initialMs: config.reconnect.initial_ms, maxMs: config.reconnect.max_ms },
    logger,
  };
}

export const asteriskAdapter: PbxAdapterDefinition<AsteriskConfig> = {
  type: 'asterisk',
  configSchema: asteriskConfigSchema,
  create(config: AsteriskConfig, ctx: PbxAdapterContext): PbxAdapter {
    return new AsteriskAdapter(config, ctx);
  },
};
