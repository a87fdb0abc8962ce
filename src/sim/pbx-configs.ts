import { withSchemaDefaults } from '../config/schema-ajv.js';
import { asteriskConfigSchema, type AsteriskConfig } from '../pbx/asterisk/asterisk-config.js';
import type { AsteriskNormaliserOptions } from '../pbx/asterisk/asterisk-normaliser.js';
import { normaliserOptions as asteriskNormaliserOptions } from '../pbx/asterisk/index.js';
import { freeswitchConfigSchema, type FreeswitchConfig } from '../pbx/freeswitch/freeswitch-config.js';
import type { FreeswitchNormaliserOptions } from '../pbx/freeswitch/freeswitch-normaliser.js';
import { normaliserOptions as freeswitchNormaliserOptions } from '../pbx/freeswitch/index.js';

/**
 * `pbx[]` entries built by hand (tests, benches, simulators) the way the config loader builds
 * them: the adapter's schema fills every default, so no default is written twice.
 */

/** A block as an admin would write it: nested blocks may be partial. */
export type PbxBlock<T> = { [K in keyof T]?: T[K] extends readonly unknown[] ? T[K] : T[K] extends object ? Partial<T[K]> : T[K] };

export function asteriskConfig(block: PbxBlock<AsteriskConfig> & Pick<AsteriskConfig, 'id' | 'host' | 'username' | 'secret'>): AsteriskConfig {
  return withSchemaDefaults<AsteriskConfig>(asteriskConfigSchema, { ...block, type: 'asterisk' });
}

export function freeswitchConfig(block: PbxBlock<FreeswitchConfig> & Pick<FreeswitchConfig, 'id' | 'host' | 'password'>): FreeswitchConfig {
  return withSchemaDefaults<FreeswitchConfig>(freeswitchConfigSchema, { ...block, type: 'freeswitch' });
}

/** Normaliser options as the adapter derives them from a default config, then `overrides`. */
export function asteriskNormaliserSettings(
  overrides: Partial<AsteriskNormaliserOptions> & Pick<AsteriskNormaliserOptions, 'pbxId' | 'agentFor'>,
): AsteriskNormaliserOptions {
  const config = asteriskConfig({ id: overrides.pbxId, host: '127.0.0.1', username: 'unused', secret: 'unused' });
  return { ...asteriskNormaliserOptions(config), ...withoutUndefined(overrides) };
}

export function freeswitchNormaliserSettings(
  overrides: Partial<FreeswitchNormaliserOptions> & Pick<FreeswitchNormaliserOptions, 'pbxId'>,
): FreeswitchNormaliserOptions {
  const config = freeswitchConfig({ id: overrides.pbxId, host: '127.0.0.1', password: 'unused' });
  return { ...freeswitchNormaliserOptions(config), ...withoutUndefined(overrides) };
}

/** `{ maxChannels: undefined }` means "the default", not "no bound". */
function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
