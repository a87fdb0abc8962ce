import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { CallTracker } from '../src/calls/call-tracker.js';
import { silentLogger } from '../src/model/logger.js';
import { AmiDecoder } from '../src/pbx/asterisk/ami-codec.js';
import { AmiConnection, type AmiConnectionOptions } from '../src/pbx/asterisk/ami-connection.js';
import { agentResolver, asteriskConfigSchema, DEFAULT_AGENT_PATTERN, type AsteriskConfig } from '../src/pbx/asterisk/asterisk-config.js';
import { connectionOptions } from '../src/pbx/asterisk/index.js';
import { withSchemaDefaults } from '../src/config/schema-ajv.js';
import { AsteriskNormaliser } from '../src/pbx/asterisk/asterisk-normaliser.js';
import { AmiSimulator, captureBody, rewriteCaptureIds } from '../src/sim/ami-simulator.js';
import type { BenchResult } from './bench-result.js';
import { asteriskNormaliserSettings } from '../src/sim/pbx-configs.js';

/**
 * AMI ingest throughput: events/s through codec + normaliser + tracker on a stream of
 * many interleaved calls built from the real captures, beside a plain
 * split-on-blank-line parser of the same bytes (the floor any parser pays), as a ratio.
 * Also events/s over loopback TCP for our connection and for the `asterisk-manager`
 * npm package on the same stream, and our reconnect delay. Bounded to a few seconds.
 */

const CAPTURES = ['01-inbound-answered.ami', '02-inbound-abandoned.ami', '03-queue-answered.ami', '05-click-to-dial.ami', '06-blind-transfer.ami'];

/** `calls` copies of the SIP-mode captures with fresh ids, `concurrent` calls interleaved block by block. */
export function buildStream(calls: number, concurrent: number, fixtures = join(process.cwd(), 'test', 'fixtures', 'asterisk')): { text: string; events: number } {
  const bodies = CAPTURES.map((f) => captureBody(readFileSync(join(fixtures, f), 'utf8')));
  const parts: string[] = [];
  let events = 0;
  for (let start = 0; start < calls; start += concurrent) {
    const group: string[][] = [];
    for (let i = start; i < Math.min(calls, start + concurrent); i++) {
      const body = rewriteCaptureIds(bodies[i % bodies.length] ?? '', i + 1);
      const blocks = body.split('\r\n\r\n').filter((b) => b.length > 0 && !b.includes('Event: FullyBooted') && !b.includes('Event: SuccessfulAuth'));
      group.push(blocks);
    }
    // Round-robin one block of each call at a time: interleaved like a busy PBX.
    for (let idx = 0; group.some((g) => idx < g.length); idx++) {
      for (const blocks of group) {
        const block = blocks[idx];
        if (block === undefined) continue;
        parts.push(block, '\r\n\r\n');
        events++;
      }
    }
  }
  return { text: parts.join(''), events };
}

function chunks(bytes: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.subarray(i, i + size));
  return out;
}

/** The floor: split on blank lines, then lines, then the first ": ". No state, no limits, no calls. */
function plainParse(text: string): number {
  let n = 0;
  for (const block of text.split('\r\n\r\n')) {
    if (!block) continue;
    const fields: Record<string, string> = {};
    for (const line of block.split('\r\n')) {
      const i = line.indexOf(': ');
      if (i > 0) fields[line.slice(0, i)] = line.slice(i + 2);
    }
    if (fields['Event'] !== undefined) n++;
  }
  return n;
}

function pipeline(parts: Buffer[]): { events: number; callEvents: number } {
  const agentFor = agentResolver({ map: {}, pattern: DEFAULT_AGENT_PATTERN });
  const normaliser = new AsteriskNormaliser(asteriskNormaliserSettings({ pbxId: 'bench', agentFor }));
  const tracker = new CallTracker({ agentForDevice: (_p, d) => agentFor(d) });
  const decoder = new AmiDecoder({ expectGreeting: false });
  let events = 0;
  let callEvents = 0;
  const at = Date.now();
  for (const part of parts) {
    for (const item of decoder.push(part)) {
      if (item.type !== 'message') continue;
      events++;
      const out = normaliser.handle(item.message, at);
      for (const leg of out.legs) callEvents += tracker.handle(leg).length;
    }
  }
  return { events, callEvents };
}

/**
 * Best of `rounds` timed runs (ms) of each function, after a warm-up, alternating the two
 * so a noisy machine (other suites running) slows both alike.
 */
function bestOfBoth(rounds: number, a: () => unknown, b: () => unknown): [number, number] {
  a();
  b();
  let minA = Infinity;
  let minB = Infinity;
  for (let i = 0; i < rounds; i++) {
    let t0 = process.hrtime.bigint();
    a();
    minA = Math.min(minA, Number(process.hrtime.bigint() - t0) / 1e6);
    t0 = process.hrtime.bigint();
    b();
    minB = Math.min(minB, Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return [minA, minB];
}

/** Connection options from a config as the loader hands it over (schema defaults applied). */
function benchOptions(port: number, config: Record<string, unknown>): AmiConnectionOptions {
  const full = withSchemaDefaults<AsteriskConfig>(asteriskConfigSchema, { type: 'asterisk', id: 'bench', host: '127.0.0.1', port, username: 'bench', secret: 'bench', ...config });
  return connectionOptions(full, silentLogger);
}

async function overTcpOurs(text: string, expected: number): Promise<number> {
  const sim = new AmiSimulator({ username: 'bench', secret: 'bench' });
  const port = await sim.listen(0, '127.0.0.1');
  const conn = new AmiConnection(benchOptions(port, { auth: 'plain', events: 'on', timeouts: { ping_interval_ms: 0 } }));
  let count = 0;
  let done: () => void = () => {};
  const finished = new Promise<void>((r) => (done = r));
  conn.on('event', (e) => {
    if (e['Event'] === 'FullyBooted') return;
    if (++count >= expected) done();
  });
  const connected = new Promise<void>((r) => conn.once('connected', () => r()));
  conn.start();
  await connected;
  await new Promise((r) => setTimeout(r, 20));
  const t0 = process.hrtime.bigint();
  sim.send(text);
  await Promise.race([finished, new Promise((r) => setTimeout(r, 15_000))]);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  await conn.stop();
  await sim.close();
  return (count / ms) * 1000;
}

async function overTcpAsteriskManager(text: string, expected: number): Promise<number | null> {
  let Manager: (port: number, host: string, user: string, secret: string, events: boolean) => {
    on(name: string, fn: (e: Record<string, unknown>) => void): void;
    disconnect(): void;
  };
  try {
    Manager = createRequire(import.meta.url)('asterisk-manager');
  } catch {
    return null;
  }
  const sim = new AmiSimulator({ username: 'bench', secret: 'bench' });
  const port = await sim.listen(0, '127.0.0.1');
  const ami = Manager(port, '127.0.0.1', 'bench', 'bench', true);
  let count = 0;
  let done: () => void = () => {};
  const finished = new Promise<void>((r) => (done = r));
  ami.on('managerevent', (e) => {
    if (e['event'] === 'FullyBooted') return;
    if (++count >= expected) done();
  });
  await sim.waitForLogin(5000);
  await new Promise((r) => setTimeout(r, 20));
  const t0 = process.hrtime.bigint();
  sim.send(text);
  await Promise.race([finished, new Promise((r) => setTimeout(r, 15_000))]);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  ami.disconnect();
  await sim.close();
  return count >= expected ? (count / ms) * 1000 : (count / ms) * 1000;
}

async function reconnectDelay(): Promise<number> {
  const sim = new AmiSimulator({ username: 'bench', secret: 'bench' });
  const port = await sim.listen(0, '127.0.0.1');
  // The schema's defaults (config.example.yaml): reconnect.initial_ms 500.
  const conn = new AmiConnection(benchOptions(port, { timeouts: { ping_interval_ms: 0 } }));
  const first = new Promise<void>((r) => conn.once('connected', () => r()));
  conn.start();
  await first;
  const again = new Promise<void>((r) => conn.once('connected', () => r()));
  const t0 = process.hrtime.bigint();
  sim.dropClients();
  await Promise.race([again, new Promise((r) => setTimeout(r, 5000))]);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  await conn.stop();
  await sim.close();
  return ms;
}

export async function run(): Promise<BenchResult[]> {
  const { text, events } = buildStream(600, 20);
  const bytes = Buffer.from(text, 'utf8');
  // 64 KiB reads, as a socket delivers them.
  const parts = chunks(bytes, 65_536);

  const [plainMs, oursMs] = bestOfBoth(7, () => plainParse(text), () => pipeline(parts));
  const plainRate = (events / plainMs) * 1000;
  const oursRate = (events / oursMs) * 1000;
  const check = pipeline(parts);

  const results: BenchResult[] = [
    {
      name: 'ami ingest: codec + normaliser + tracker',
      value: Math.round(oursRate),
      unit: 'events/s',
      reference: { name: 'plain split-on-blank-line parse of the same bytes', value: Math.round(plainRate), unit: 'events/s' },
      ratio: Number((oursRate / plainRate).toFixed(3)),
      target: '>= 0.6',
      notes: `${events} events (${(bytes.length / 1e6).toFixed(1)} MB, 600 calls from the SIP captures, 20 interleaved), ${check.callEvents} call events; best of 7, alternating`,
    },
  ];

  const tcpOurs = await overTcpOurs(text, events);
  const tcpTheirs = await overTcpAsteriskManager(text, events);
  results.push({
    name: 'ami over loopback TCP: AmiConnection events',
    value: Math.round(tcpOurs),
    unit: 'events/s',
    ...(tcpTheirs !== null
      ? { reference: { name: 'asterisk-manager 0.2.0 managerevent', value: Math.round(tcpTheirs), unit: 'events/s' }, ratio: Number((tcpOurs / tcpTheirs).toFixed(3)) }
      : { notes: 'asterisk-manager not installed' }),
  });

  const delay = await reconnectDelay();
  results.push({
    name: 'ami reconnect after the PBX drops the connection',
    value: Math.round(delay),
    unit: 'ms',
    reference: { name: 'asterisk-manager keepConnected first retry (fixed in its source)', value: 10_000, unit: 'ms' },
    target: '<= 1000',
    notes: 'reconnect.initial_ms 500 less up to 20 % jitter (src/pbx/reconnect-policy.ts), until re-login',
  });
  return results;
}
