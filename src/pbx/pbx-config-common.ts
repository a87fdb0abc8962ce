/**
 * Config pieces every PBX adapter shares, so `reconnect` and `limits` read and validate the
 * same way for Asterisk and FreeSWITCH.
 */

export interface ReconnectConfig {
  /**
   * First retry after a refused connect or a dropped link (ms); doubled per failure but
   * never past 1000 ms (src/pbx/reconnect-policy.ts).
   */
  initial_ms: number;
  /** Cap of the backoff after authentication failures (ms); they start at 1 s. */
  max_ms: number;
}

export interface PbxLimitsConfig {
  /** Largest frame accepted; bigger ones are dropped with one log line. */
  max_frame_bytes: number;
  /** Channels the normaliser remembers at most (oldest dropped past it). */
  max_channels: number;
}

export const reconnectSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    initial_ms: { type: 'integer', minimum: 10, maximum: 60_000, default: 500 },
    max_ms: { type: 'integer', minimum: 100, maximum: 3_600_000, default: 30_000 },
  },
} as const;

/** `limits` with the protocol's own defaults (an ESL frame is far larger than an AMI one). */
export function limitsSchema(defaults: { maxFrameBytes: number; maxChannels: number; frameBytesRange: [number, number] }) {
  return {
    type: 'object',
    additionalProperties: false,
    default: {},
    properties: {
      max_frame_bytes: { type: 'integer', minimum: defaults.frameBytesRange[0], maximum: defaults.frameBytesRange[1], default: defaults.maxFrameBytes },
      max_channels: { type: 'integer', minimum: 100, maximum: 10_000_000, default: defaults.maxChannels },
    },
  } as const;
}
