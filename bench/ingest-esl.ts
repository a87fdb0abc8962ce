import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { FreeSwitchResponse } from 'esl';
import type { Socket } from 'node:net';
import { CallTracker } from '../src/calls/call-tracker.js';
import { EslDecoder } from '../src/pbx/freeswitch/esl-codec.js';
import { FreeswitchNormaliser } from '../src/pbx/freeswitch/freeswitch-normaliser.js';
import { splitCaptureFrames } from '../src/sim/esl-simulator.js';
import { median, type BenchResult } from './bench-result.js';
import { freeswitchNormaliserSettings } from '../src/sim/pbx-configs.js';

/**
 * ESL ingest: events/s through codec + normaliser + tracker on many interleaved calls built
 * from the real JSON captures, beside a bare Content-Length + JSON.parse reader of the same
 * bytes in the same reads (the floor any ESL client pays). Target: ratio >= 0.7.
 */

const CAPTURES = ['01-inbound-answered', '02-inbound-abandoned', '04-outbound-click-to-dial', '05-blind-transfer'];
const COPIES = 50;
const READ_SIZE = 64 * 1024;
const ROUNDS = 9;
const UUID = /[0-9a-f]{8}(-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/g;

function fixture(name: string): Buffer {
  return readFileSync(new URL(`../../test/fixtures/freeswitch/${name}`, import.meta.url));
}

/** COPIES x each capture, UUIDs made unique per copy, events interleaved round-robin. */
function buildStream(): { reads: Buffer[]; events: number; bytes: number } {
  const calls: Buffer[][] = [];
  for (const name of CAPTURES) {
    const frames = splitCaptureFrames(fixture(`${name}.json.esl`)).filter((f) => f.contentType === 'text/event-json');
    for (let copy = 0; copy < COPIES; copy++) {
      const prefix = `${copy.toString(16).padStart(4, '0')}${CAPTURES.indexOf(name).toString(16).padStart(4, '0')}`;
      calls.push(
        frames.map((f) => {
          const text = f.raw.toString('utf8');
          const split = text.indexOf('\n\n') + 2;
          const body = text.slice(split).replace(UUID, (_m, rest: string) => `${prefix}${rest}`);
          return Buffer.from(`Content-Length: ${Buffer.byteLength(body)}\nContent-Type: text/event-json\n\n${body}`, 'utf8');
        }),
      );
    }
  }
  const ordered: Buffer[] = [];
  const longest = Math.max(...calls.map((c) => c.length));
  for (let i = 0; i < longest; i++) for (const call of calls) if (call[i]) ordered.push(call[i]!);
  const all = Buffer.concat(ordered);
  const reads: Buffer[] = [];
  for (let offset = 0; offset < all.length; offset += READ_SIZE) reads.push(all.subarray(offset, offset + READ_SIZE));
  return { reads, events: ordered.length, bytes: all.length };
}

function runCallpop(reads: readonly Buffer[]): { events: number; callEvents: number } {
  const decoder = new EslDecoder();
  const normaliser = new FreeswitchNormaliser(freeswitchNormaliserSettings({ pbxId: 'bench', keepRaw: false }));
  const tracker = new CallTracker({
    agentForDevice: (_pbx, device) => (device.startsWith('user/') ? device.slice(5) : null),
  });
  let events = 0;
  let callEvents = 0;
  for (const read of reads) {
    for (const message of decoder.push(read)) {
      if (message.type !== 'event') continue;
      events++;
      for (const out of normaliser.handle(message.event)) {
        if (out.kind === 'leg') callEvents += tracker.handle(out.leg).length;
      }
    }
  }
  return { events, callEvents };
}

/** The floor: find the blank line, read Content-Length, slice the body, JSON.parse it. */
function runBareReader(reads: readonly Buffer[]): number {
  let pending: Buffer = Buffer.alloc(0);
  let events = 0;
  for (const read of reads) {
    let buf = pending.length ? Buffer.concat([pending, read]) : read;
    let offset = 0;
    for (;;) {
      const end = buf.indexOf('\n\n', offset);
      if (end < 0) break;
      const head = buf.toString('latin1', offset, end);
      const m = /Content-Length: (\d+)/.exec(head);
      const length = m ? Number(m[1]) : 0;
      if (end + 2 + length > buf.length) break;
      if (length > 0) {
        JSON.parse(buf.toString('utf8', end + 2, end + 2 + length));
        events++;
      }
      offset = end + 2 + length;
    }
    pending = buf.subarray(offset);
    buf = pending;
  }
  return events;
}

/**
 * The `esl` npm package (v11) on the same reads: its FreeSwitchResponse (parser + JSON.parse
 * + one emitter event per event name) over a stand-in socket. Its parser is not exported alone.
 */
function runEslPackage(reads: readonly Buffer[]): number {
  const socket = Object.assign(new EventEmitter(), {
    setKeepAlive() {},
    setNoDelay() {},
    write() {
      return true;
    },
    end() {},
  });
  const quiet = { debug() {}, info() {}, error() {} };
  const response = new FreeSwitchResponse(socket as unknown as Socket, quiet);
  for (const read of reads) socket.emit('data', read);
  return Number(response.stats.events);
}

interface Timed {
  rate: number;
  count: number;
}

function timed(fn: () => number): Timed {
  const started = process.hrtime.bigint();
  const count = fn();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { rate: count / seconds, count };
}

export async function run(): Promise<BenchResult[]> {
  const stream = buildStream();
  let callEvents = 0;
  // Warm up every path once so the JIT has seen them.
  runCallpop(stream.reads);
  runBareReader(stream.reads);
  runEslPackage(stream.reads);
  // The three readers take turns, and each ratio is taken within one round: on a shared VM
  // the machine's speed drifts by a third within seconds, which would skew a comparison of
  // one reader's best round against another's.
  const ours: number[] = [];
  const bare: number[] = [];
  const pkg: number[] = [];
  const oursRatios: number[] = [];
  const pkgRatios: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const o = timed(() => {
      const r = runCallpop(stream.reads);
      callEvents = r.callEvents;
      return r.events;
    });
    const b = timed(() => runBareReader(stream.reads));
    const p = timed(() => runEslPackage(stream.reads));
    ours.push(o.rate);
    bare.push(b.rate);
    pkg.push(p.rate);
    oursRatios.push(o.rate / b.rate);
    pkgRatios.push(p.rate / b.rate);
  }
  const oursRate = median(ours);
  const bareRate = median(bare);
  const pkgRate = median(pkg);
  const ratioSpread = `${Math.min(...oursRatios).toFixed(2)}-${Math.max(...oursRatios).toFixed(2)}`;
  const mb = (stream.bytes / 1024 / 1024).toFixed(1);
  return [
    {
      name: 'esl ingest: codec + normaliser + tracker (JSON events)',
      value: Math.round(oursRate),
      unit: 'events/s',
      reference: { name: 'bare Content-Length + JSON.parse reader', value: Math.round(bareRate), unit: 'events/s' },
      ratio: Number(median(oursRatios).toFixed(3)),
      target: '>= 0.7',
      notes: `${stream.events} events, ${COPIES * CAPTURES.length} interleaved calls from the real captures, ${mb} MB in ${READ_SIZE / 1024} KiB reads; ${callEvents} CallEvents; medians of ${ROUNDS} alternating rounds, ratio per round ${ratioSpread}`,
    },
    {
      name: 'esl ingest: esl npm package parser (FreeSwitchParser + JSON.parse)',
      value: Math.round(pkgRate),
      unit: 'events/s',
      reference: { name: 'bare Content-Length + JSON.parse reader', value: Math.round(bareRate), unit: 'events/s' },
      ratio: Number(median(pkgRatios).toFixed(3)),
      notes: 'codec only, no normaliser/tracker; why it is not used: docs/decisions.md',
    },
  ];
}
