import { withSchemaDefaults } from '../src/config/schema-ajv.js';
import { silentLogger } from '../src/model/logger.js';
import { asteriskConfigSchema, type AsteriskConfig } from '../src/pbx/asterisk/asterisk-config.js';
import { asteriskAdapter } from '../src/pbx/asterisk/index.js';
import { freeswitchConfigSchema, type FreeswitchConfig } from '../src/pbx/freeswitch/freeswitch-config.js';
import { freeswitchAdapter } from '../src/pbx/freeswitch/index.js';
import type { PbxAdapter } from '../src/pbx/pbx-adapter.js';
import { AmiSimulator } from '../src/sim/ami-simulator.js';
import { EslSimulator } from '../src/sim/esl-simulator.js';
import type { BenchOptions, BenchResult } from './bench-result.js';

/**
 * Time from a PBX simulator accepting connections again, after its listener was down for
 * 5, 10 and 20 s, to the link logged in again (and to the adapter's resync), for Asterisk and
 * FreeSWITCH, with the config's default reconnect settings. The six outages run side by side
 * (each its own simulator and port), so the module takes about the longest outage plus a
 * few seconds. docs/decisions.md "One reconnect policy for both PBXs" explains the target.
 */

const SECRET = 'bench-secret';
/** Give up on one outage this long after the PBX is back (the figure then reads as missing). */
const WAIT_AFTER_MS = 10_000;

interface Pbx {
  adapter: PbxAdapter;
  stop(): Promise<void>;
  restart(): Promise<void>;
}

async function asterisk(): Promise<Pbx> {
  const sim = new AmiSimulator({ username: 'bench', secret: SECRET });
  const port = await sim.listen(0, '127.0.0.1');
  const config = withSchemaDefaults<AsteriskConfig>(asteriskConfigSchema, { type: 'asterisk', id: 'ast', host: '127.0.0.1', port, username: 'bench', secret: SECRET });
  return { adapter: asteriskAdapter.create(config, { logger: silentLogger }), stop: () => sim.close(), restart: async () => void (await sim.listen(port, '127.0.0.1')) };
}

async function freeswitch(): Promise<Pbx> {
  const sim = new EslSimulator({ password: SECRET });
  const port = await sim.listen(0, '127.0.0.1');
  const config = withSchemaDefaults<FreeswitchConfig>(freeswitchConfigSchema, { type: 'freeswitch', id: 'fs', host: '127.0.0.1', port, password: SECRET });
  return { adapter: freeswitchAdapter.create(config, { logger: silentLogger }), stop: () => sim.close(), restart: async () => void (await sim.listen(port, '127.0.0.1')) };
}

function next(adapter: PbxAdapter, what: 'connected' | 'resync', timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => done(false), timeoutMs);
    const onStatus = (s: { state: string }): void => {
      if (s.state === 'connected') done(true);
    };
    const onResync = (): void => done(true);
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      adapter.off('status', onStatus);
      adapter.off('resync', onResync);
      resolve(ok);
    };
    if (what === 'connected') adapter.on('status', onStatus);
    else adapter.on('resync', onResync);
  });
}

/** One outage: ms from the listener back to logged in, and to the resync; NaN if not within WAIT_AFTER_MS. */
async function outage(make: () => Promise<Pbx>, outageMs: number): Promise<{ connectedMs: number; resyncMs: number; attempts: number }> {
  const pbx = await make();
  const first = next(pbx.adapter, 'resync', 5000);
  pbx.adapter.start();
  if (!(await first)) throw new Error('the link did not come up before the outage');
  try {
    await pbx.stop();
    const before = pbx.adapter.linkStats().connectAttempts;
    await new Promise((r) => setTimeout(r, outageMs));
    const connected = next(pbx.adapter, 'connected', WAIT_AFTER_MS);
    const resynced = next(pbx.adapter, 'resync', WAIT_AFTER_MS);
    await pbx.restart();
    const t0 = performance.now();
    const connectedOk = await connected;
    const connectedMs = performance.now() - t0;
    const resyncOk = await resynced;
    const resyncMs = performance.now() - t0;
    return {
      connectedMs: connectedOk ? connectedMs : Number.NaN,
      resyncMs: resyncOk ? resyncMs : Number.NaN,
      attempts: pbx.adapter.linkStats().connectAttempts - before,
    };
  } finally {
    await pbx.adapter.stop();
    await pbx.stop().catch(() => {});
  }
}

export async function run(options: BenchOptions = { quick: false, budgetMs: 35_000 }): Promise<BenchResult[]> {
  const outages = options.quick ? [2, 3, 4] : [5, 10, 20];
  const cases = (['asterisk', 'freeswitch'] as const).flatMap((pbx) => outages.map((seconds) => ({ pbx, seconds })));
  const measured = await Promise.all(cases.map((c) => outage(c.pbx === 'asterisk' ? asterisk : freeswitch, c.seconds * 1000)));
  return cases.map((c, i) => {
    const m = measured[i]!;
    return {
      name: `${c.pbx === 'asterisk' ? 'ami' : 'esl'} back after a ${c.seconds} s PBX outage: listener up to logged in`,
      value: Math.round(m.connectedMs),
      unit: 'ms',
      target: '<= 1000',
      notes: `resync emitted after ${Math.round(m.resyncMs)} ms; ${m.attempts} connect attempts during the outage; reconnect defaults (initial_ms 500, max_ms 30000)`,
    };
  });
}
