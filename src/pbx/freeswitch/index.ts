import { EventEmitter } from 'node:events';
import type { HealthStatus } from '../../model/health.js';
import { CallpopError, describeError } from '../../model/errors.js';
import type { Logger } from '../../model/logger.js';
import { ResyncGate } from '../resync-gate.js';
import type { LinkStats, PbxAdapter, PbxAdapterContext, PbxAdapterDefinition, PbxAdapterEvents } from '../pbx-adapter.js';
import type { EslEvent } from './esl-codec.js';
import type { EslConnectionOptions } from './esl-connection.js';
import { EslConnection } from './esl-connection.js';
import type { FreeswitchAgentsConfig, FreeswitchConfig } from './freeswitch-config.js';
import { freeswitchConfigSchema } from './freeswitch-config.js';
import { FREESWITCH_EVENT_SUBSCRIPTION, FreeswitchNormaliser, type FreeswitchNormaliserOptions } from './freeswitch-normaliser.js';

export { EslDecoder, encodeCommand, DEFAULT_MAX_FRAME_BYTES } from './esl-codec.js';
export type { EslCommand, EslDecoderOptions, EslEvent, EslMessage } from './esl-codec.js';
export { EslConnection } from './esl-connection.js';
export type { EslConnectionOptions } from './esl-connection.js';
export { freeswitchConfigSchema } from './freeswitch-config.js';
export type { FreeswitchConfig } from './freeswitch-config.js';
export { FREESWITCH_EVENT_SUBSCRIPTION, FreeswitchNormaliser } from './freeswitch-normaliser.js';
export type { FreeswitchNormaliserOptions, FreeswitchOutput } from './freeswitch-normaliser.js';

/** The command whose JSON answer lists the channels up now (resync after every connect). */
export const RESYNC_COMMAND = 'show channels as json';

/**
 * The FreeSWITCH PBX adapter: ESL connection + normaliser behind the PbxAdapter seam.
 * After every (re)connect it asks `show channels as json` and emits `resync`, holding the
 * events that arrive meanwhile so their order is kept.
 */
export class FreeswitchAdapter extends EventEmitter<PbxAdapterEvents> implements PbxAdapter {
  readonly id: string;
  readonly type = 'freeswitch' as const;
  /** The ESL connection, for commands (`api`, `bgapi`, originate for click-to-dial). */
  readonly esl: EslConnection;
  private readonly config: FreeswitchConfig;
  private readonly logger: Logger;
  private readonly baseLogger: Logger;
  private readonly resolveAgent: (device: string) => string | null;
  private readonly normaliser: FreeswitchNormaliser;
  /** Holds events while the resync list is in flight (order kept) and isolates each event. */
  private readonly gate: ResyncGate<EslEvent>;

  constructor(config: FreeswitchConfig, ctx: PbxAdapterContext) {
    super();
    this.id = config.id;
    this.config = config;
    this.baseLogger = ctx.logger;
    this.logger = ctx.logger.child({ pbx: config.id });
    this.resolveAgent = freeswitchAgentResolver(config.agents);
    this.normaliser = new FreeswitchNormaliser({ ...normaliserOptions(config), logger: this.logger });
    this.gate = new ResyncGate((event) => this.dispatch(event), this.logger);
    this.esl = new EslConnection(eslConnectionOptions(config, ctx.logger));
    this.esl.on('event', (event) => this.gate.push(event));
    this.esl.on('status', (status) => this.emit('status', status));
    this.esl.on('connected', () => void this.resync());
  }

  start(): void {
    this.esl.start();
  }

  async stop(): Promise<void> {
    await this.esl.stop();
  }

  linkStats(): LinkStats {
    return this.esl.linkStats();
  }

  agentFor(device: string): string | null {
    return this.resolveAgent(device);
  }

  /**
   * Proves what the daemon will need: login, the event subscription, and the resync command
   * (a `userauth` user's esl-allowed-events / esl-allowed-api may refuse either).
   */
  async check(signal: AbortSignal): Promise<HealthStatus> {
    const probe = new EslConnection({ ...eslConnectionOptions(this.config, this.baseLogger), idleTimeoutMs: 0 });
    try {
      await probe.connectOnce(signal, { subscribe: true });
      const channels = channelCount(await this.showChannels(probe));
      return {
        ok: true,
        detail: `authenticated to FreeSWITCH ESL at ${probe.address}${this.config.username ? ` as ${this.config.username}` : ''}, subscribed (${this.config.event_format}), ${channels} channel(s) up`,
      };
    } catch (err) {
      return { ok: false, detail: describeError(err) };
    } finally {
      await probe.stop();
    }
  }

  private dispatch(event: EslEvent): void {
    for (const item of this.normaliser.handle(event)) {
      if (item.kind === 'leg') this.emit('leg', item.leg);
      else this.emit('early', item.early);
    }
  }

  private async resync(): Promise<void> {
    this.gate.hold();
    try {
      const legs = this.normaliser.resync(await this.showChannels(this.esl));
      this.logger.info({ agentLegs: legs.length }, 'ESL resync from show channels');
      this.emit('resync', legs);
    } catch (err) {
      // Without the list the tracker keeps its state; events keep flowing.
      this.logger.warn({ err: describeError(err), code: err instanceof CallpopError ? err.code : undefined }, 'ESL resync failed; tracker state kept as is');
    } finally {
      this.gate.release();
    }
  }

  /** The answer to `show channels as json`; throws when FreeSWITCH refuses the command. */
  private async showChannels(esl: EslConnection): Promise<string> {
    const body = await esl.api(RESYNC_COMMAND);
    if (body.startsWith('-ERR')) {
      const answer = body.trim().slice(0, 120);
      const hint = this.config.username && answer.includes('permission denied') ? `; user ${this.config.username} needs "show" in esl-allowed-api` : '';
      throw new CallpopError('CALLPOP_ESL_COMMAND', `FreeSWITCH refused "${RESYNC_COMMAND}" (${answer})${hint}`);
    }
    return body;
  }
}

/**
 * Device -> agent extension. Devices are `user/<user>` (the directory user the leg dialled,
 * or the user part of `Channel-Presence-ID`). `map` is checked first, by device and by bare
 * user; then `pattern` (capture group 1 is the extension). Anything else is not an agent.
 */
export function freeswitchAgentResolver(agents: FreeswitchAgentsConfig): (device: string) => string | null {
  let pattern: RegExp;
  try {
    pattern = new RegExp(agents.pattern);
  } catch (err) {
    throw new CallpopError('CALLPOP_CONFIG_INVALID', `pbx agents.pattern is not a valid regular expression: ${describeError(err)}`);
  }
  const map = new Map(Object.entries(agents.map));
  return (device: string): string | null => {
    const direct = map.get(device);
    if (direct) return direct;
    const user = device.startsWith('user/') ? device.slice(5) : undefined;
    if (user !== undefined) {
      const byUser = map.get(user);
      if (byUser) return byUser;
    }
    const match = pattern.exec(device);
    if (!match) return null;
    return match[1] ?? match[0] ?? null;
  };
}

/** `row_count` of a `show channels as json` answer (0 when there is none). */
function channelCount(body: string): number {
  try {
    const parsed = JSON.parse(body) as { row_count?: unknown };
    return typeof parsed.row_count === 'number' ? parsed.row_count : 0;
  } catch {
    return 0;
  }
}

/** The normaliser's settings from a validated config block (the schema holds their defaults). */
export function normaliserOptions(config: FreeswitchConfig): Pick<FreeswitchNormaliserOptions, 'pbxId' | 'trunkContexts' | 'stripQueueDomain' | 'maxChannels'> {
  return { pbxId: config.id, trunkContexts: config.trunk_contexts, stripQueueDomain: config.strip_queue_domain, maxChannels: config.limits.max_channels };
}

/** Maps a validated config block to connection options. */
export function eslConnectionOptions(config: FreeswitchConfig, logger: Logger): EslConnectionOptions {
  return {
    pbxId: config.id,
    host: config.host,
    port: config.port,
    password: config.password,
    ...(config.username ? { username: config.username } : {}),
    eventFormat: config.event_format,
    events: FREESWITCH_EVENT_SUBSCRIPTION,
    filters: config.filters,
    maxFrameBytes: config.limits.max_frame_bytes,
    connectTimeoutMs: config.timeouts.connect_ms,
    authTimeoutMs: config.timeouts.auth_ms,
    commandTimeoutMs: config.timeouts.command_ms,
    idleTimeoutMs: config.timeouts.idle_ms,
    reconnect: { initialMs: config.reconnect.initial_ms, maxMs: config.reconnect.max_ms },
    logger,
  };
}

export const freeswitchAdapter: PbxAdapterDefinition<FreeswitchConfig> = {
  type: 'freeswitch',
  configSchema: freeswitchConfigSchema,
  create(config, ctx) {
    return new FreeswitchAdapter(config, ctx);
  },
};
