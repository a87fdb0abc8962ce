import { asteriskAdapter } from './asterisk/index.js';
import { freeswitchAdapter } from './freeswitch/index.js';
import type { PbxAdapterDefinition } from './pbx-adapter.js';

/** The PBX types callpop speaks, selected by `pbx[].type`. */
export const pbxDefinitions: readonly PbxAdapterDefinition<any>[] = [asteriskAdapter, freeswitchAdapter];
