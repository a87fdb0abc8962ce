import { asteriskAdapter } from './asterisk/index.js';
import { freeswitchAdapter } from './freeswitch/index.js';
import type { PbxAdapterDefinition } from './pbx-adapter.js';

/**
 * The PBX types callpop speaks, selected by `pbx[].type`. This list is the only place a PBX
 * type is named: the config schema's `type` enum and `callpop check` are built from it, so a
 * new PBX is its own folder plus one line here.
 */
export const pbxDefinitions: readonly PbxAdapterDefinition<any>[] = [asteriskAdapter, freeswitchAdapter];

/** The `type:` values a registry accepts, in registry order (for the schema enum and messages). */
export function pbxTypes(definitions: readonly PbxAdapterDefinition<any>[] = pbxDefinitions): string[] {
  return definitions.map((definition) => definition.type);
}

/** The definition for a `pbx[].type`, or undefined when no adapter registered it. */
export function pbxDefinitionFor(
  type: string,
  definitions: readonly PbxAdapterDefinition<any>[] = pbxDefinitions,
): PbxAdapterDefinition<any> | undefined {
  return definitions.find((definition) => definition.type === type);
}
