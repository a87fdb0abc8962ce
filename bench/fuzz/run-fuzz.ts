import { freeswitchNormaliserSettings } from '../../src/sim/pbx-configs.js';
import { readdirSync, readFileSync } from 'node:fs';
import { CallTracker } from '../../src/calls/call-tracker.js';
import { isCallpopError } from '../../src/model/errors.js';
import { AmiDecoder } from '../../src/pbx/asterisk/ami-codec.js';
import { AsteriskNormaliser } from '../../src/pbx/asterisk/asterisk-normaliser.js';
import { EslDecoder } from '../../src/pbx/freeswitch/esl-codec.js';
import { FreeswitchNormaliser } from '../../src/pbx/freeswitch/freeswitch-normaliser.js';
import { splitCaptureFrames } from '../../src/sim/esl-simulator.js';
import { HUB_SEEDS, isKnownMessage, parseClientMessage } from './hub-messages.js';
import { AMI_TOKENS, ESL_TOKENS, int, mutate, pick, randomReads, type Rng } from './mutate.js';

/**
 * The fuzz loop behind `npm run fuzz` and test/fuzz.test.ts: mutated real captures through
 * both codecs (split at random offsets), both normalisers and the tracker, and mutated
 * client messages through the hub's parsing. An input is one mutated byte string (a few
 * frames) or one client message. Exceptions that escape are the finding; a CALLPOP_ESL_FRAME
 * thrown by the ESL decoder is its documented protocol error (the link reconnects), counted
 * apart.
 */

export interface FuzzOptions {
  seed: number;
  /** Stop after this many inputs in total. */
  count: number;
  /** Stop after this long, whatever the count. */
  timeMs: number;
  /** Directory of test/fixtures (with asterisk/ and freeswitch/). */
  fixturesDir: string;
}

export interface FuzzEscape {
  target: Target;
  index: number;
  error: string;
}

export interface FuzzReport {
  seed: number;
  inputs: number;
  byTarget: Record<Target, number>;
  /** Exceptions that escaped a codec, normaliser, tracker or the hub parsing (goal 0). */
  escaped: number;
  /** The first few escapes, to replay (seed + index). */
  escapes: FuzzEscape[];
  /** CALLPOP_ESL_FRAME protocol errors (expected: the link resets and resyncs). */
  eslProtocolErrors: number;
  /** Client messages the hub parsing accepted although their type is not a protocol type. */
  hubAcceptedUnknownTypes: number;
  hubUnknownTypeExamples: string[];
  peakRssBytes: number;
  peakHeapBytes: number;
  elapsedMs: number;
}

type Target = 'ami' | 'esl-json' | 'esl-plain' | 'hub';
const TARGETS: readonly Target[] = ['ami', 'esl-json', 'esl-plain', 'hub'];
/** Bounds small enough that the fuzz reaches them often (the real defaults are 50-100 k). */
const MAX_CHANNELS = 2000;
/** A fresh codec, normaliser and tracker every so many inputs of a target (a new connection). */
const SESSION_INPUTS = 5000;

interface Corpus {
  amiFrames: Buffer[];
  eslJsonFrames: Buffer[];
  eslPlainFrames: Buffer[];
}

function loadCorpus(dir: string): Corpus {
  const amiFrames: Buffer[] = [];
  for (const file of readdirSync(`${dir}/asterisk`).filter((f) => f.endsWith('.ami'))) {
    const text = readFileSync(`${dir}/asterisk/${file}`, 'latin1');
    for (const frame of text.split('\r\n\r\n')) if (frame) amiFrames.push(Buffer.from(`${frame}\r\n\r\n`, 'latin1'));
  }
  const eslJsonFrames: Buffer[] = [];
  const eslPlainFrames: Buffer[] = [];
  for (const file of readdirSync(`${dir}/freeswitch`).filter((f) => f.endsWith('.esl'))) {
    for (const frame of splitCaptureFrames(readFileSync(`${dir}/freeswitch/${file}`))) {
      if (frame.format === 'json') eslJsonFrames.push(frame.raw);
      else if (frame.format === 'plain') eslPlainFrames.push(frame.raw);
    }
  }
  return { amiFrames, eslJsonFrames, eslPlainFrames };
}

/** 1-6 consecutive frames of a capture (consecutive, so calls progress), then mutated. */
function window(rng: Rng, frames: readonly Buffer[], tokens: readonly string[]): Buffer {
  const start = int(rng, frames.length);
  const parts = frames.slice(start, start + 1 + int(rng, 6));
  const joined = Buffer.concat(parts);
  return rng() < 0.15 ? joined : mutate(rng, joined, tokens);
}

class AmiTarget {
  private decoder = new AmiDecoder({ expectGreeting: false });
  private normaliser = new AsteriskNormaliser({ pbxId: 'fz', agentFor: (d) => (/^(PJSIP|Local)\/(1\d{3})/.exec(d)?.[2] ?? null), maxChannels: MAX_CHANNELS });
  private tracker = new CallTracker({ agentForDevice: (_p, d) => (/^(PJSIP|Local)\/(1\d{3})/.exec(d)?.[2] ?? null), maxLegs: MAX_CHANNELS });

  feed(rng: Rng, bytes: Buffer): void {
    for (const read of randomReads(rng, bytes)) {
      for (const item of this.decoder.push(read)) {
        if (item.type !== 'message') continue;
        for (const leg of this.normaliser.handle(item.message, 1_700_000_000_000).legs) this.tracker.handle(leg);
      }
    }
  }
}

class EslTarget {
  private decoder = new EslDecoder({ maxFrameBytes: 256 * 1024 });
  private normaliser = new FreeswitchNormaliser(freeswitchNormaliserSettings({ pbxId: 'fz', maxChannels: MAX_CHANNELS, endedMemory: MAX_CHANNELS, keepRaw: false }));
  private tracker = new CallTracker({ agentForDevice: (_p, d) => (d.startsWith('user/') ? d.slice(5) : null), maxLegs: MAX_CHANNELS });
  protocolErrors = 0;

  feed(rng: Rng, bytes: Buffer): void {
    for (const read of randomReads(rng, bytes)) {
      let messages;
      try {
        messages = this.decoder.push(read);
      } catch (err) {
        if (!isCallpopError(err, 'CALLPOP_ESL_FRAME')) throw err;
        // What the connection does with a protocol error: a fresh stream after the reconnect.
        this.protocolErrors += 1;
        this.decoder.reset();
        return;
      }
      for (const message of messages) {
        if (message.type !== 'event') continue;
        for (const out of this.normaliser.handle(message.event)) if (out.kind === 'leg') this.tracker.handle(out.leg);
      }
    }
  }
}

export function runFuzz(options: FuzzOptions, rng: Rng): FuzzReport {
  const corpus = loadCorpus(options.fixturesDir);
  const started = Date.now();
  const report: FuzzReport = {
    seed: options.seed,
    inputs: 0,
    byTarget: { ami: 0, 'esl-json': 0, 'esl-plain': 0, hub: 0 },
    escaped: 0,
    escapes: [],
    eslProtocolErrors: 0,
    hubAcceptedUnknownTypes: 0,
    hubUnknownTypeExamples: [],
    peakRssBytes: 0,
    peakHeapBytes: 0,
    elapsedMs: 0,
  };
  let ami = new AmiTarget();
  let eslJson = new EslTarget();
  let eslPlain = new EslTarget();
  const sampleMemory = (): void => {
    const m = process.memoryUsage();
    report.peakRssBytes = Math.max(report.peakRssBytes, m.rss);
    report.peakHeapBytes = Math.max(report.peakHeapBytes, m.heapUsed);
  };
  for (let index = 0; index < options.count; index++) {
    if ((index & 1023) === 0) {
      sampleMemory();
      if (Date.now() - started > options.timeMs) break;
    }
    const target = TARGETS[index % TARGETS.length]!;
    const n = report.byTarget[target]++;
    if (n > 0 && n % SESSION_INPUTS === 0) {
      if (target === 'ami') ami = new AmiTarget();
      if (target === 'esl-json') (report.eslProtocolErrors += eslJson.protocolErrors), (eslJson = new EslTarget());
      if (target === 'esl-plain') (report.eslProtocolErrors += eslPlain.protocolErrors), (eslPlain = new EslTarget());
    }
    report.inputs += 1;
    try {
      switch (target) {
        case 'ami':
          ami.feed(rng, window(rng, corpus.amiFrames, AMI_TOKENS));
          break;
        case 'esl-json':
          eslJson.feed(rng, window(rng, corpus.eslJsonFrames, ESL_TOKENS));
          break;
        case 'esl-plain':
          eslPlain.feed(rng, window(rng, corpus.eslPlainFrames, ESL_TOKENS));
          break;
        case 'hub': {
          const seed = Buffer.from(pick(rng, HUB_SEEDS), 'utf8');
          const text = (rng() < 0.1 ? seed : mutate(rng, seed, ESL_TOKENS)).toString('utf8');
          const parsed = parseClientMessage(text);
          if (parsed.ok && !isKnownMessage(parsed.message)) {
            report.hubAcceptedUnknownTypes += 1;
            if (report.hubUnknownTypeExamples.length < 3) report.hubUnknownTypeExamples.push(text.slice(0, 120));
          }
          break;
        }
      }
    } catch (err) {
      report.escaped += 1;
      if (report.escapes.length < 10) report.escapes.push({ target, index, error: String((err as Error)?.stack ?? err).split('\n').slice(0, 3).join(' | ') });
      // A target that threw may hold broken state: start it afresh, as a reconnect would.
      if (target === 'ami') ami = new AmiTarget();
      if (target === 'esl-json') eslJson = new EslTarget();
      if (target === 'esl-plain') eslPlain = new EslTarget();
    }
  }
  sampleMemory();
  report.eslProtocolErrors += eslJson.protocolErrors + eslPlain.protocolErrors;
  report.elapsedMs = Date.now() - started;
  return report;
}
