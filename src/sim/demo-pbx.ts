import { inboundCall } from './ami-scenarios.js';
import { AmiSimulator } from './ami-simulator.js';
import type { DemoCall } from './demo-calls.js';
import { eslInboundCall } from './esl-inbound-call.js';
import { EslSimulator } from './esl-simulator.js';

export const DEMO_PBX_TYPES = ['asterisk', 'freeswitch'] as const;
export type DemoPbxType = (typeof DEMO_PBX_TYPES)[number];

/** The simulated PBX behind `callpop demo`, speaking AMI or ESL on loopback. */
export interface DemoPbx {
  readonly type: DemoPbxType;
  /** The `pbx:` entry an admin would write for it. */
  readonly configBlock: Record<string, unknown>;
  /** Resolves once the daemon is logged in and listening. */
  waitReady(timeoutMs: number): Promise<void>;
  /** Plays one call in real time: rings, then answered and hung up, or abandoned. */
  play(call: DemoCall, seq: number): Promise<void>;
  close(): Promise<void>;
}

/** How long a demo phone rings and talks: long enough to watch the pop, short enough to wait for. */
const RING_MS = 4000;
const TALK_MS = 6000;

export async function startDemoPbx(type: DemoPbxType, secret: string): Promise<DemoPbx> {
  return type === 'freeswitch' ? startFreeswitch(secret) : startAsterisk(secret);
}

async function startAsterisk(secret: string): Promise<DemoPbx> {
  const simulator = new AmiSimulator({ username: 'callpop', secret });
  const port = await simulator.listen(0, '127.0.0.1');
  return {
    type: 'asterisk',
    configBlock: { id: 'demo-asterisk', type: 'asterisk', host: '127.0.0.1', port, username: 'callpop', secret },
    waitReady: (timeoutMs) => simulator.waitForLogin(timeoutMs),
    play: (call, seq) => simulator.playScenario(inboundCall({ ...call, seq, answerAfterMs: RING_MS, talkMs: TALK_MS })),
    close: () => simulator.close(),
  };
}

async function startFreeswitch(password: string): Promise<DemoPbx> {
  const simulator = new EslSimulator({ password });
  const port = await simulator.listen(0, '127.0.0.1');
  return {
    type: 'freeswitch',
    configBlock: { id: 'demo-freeswitch', type: 'freeswitch', host: '127.0.0.1', port, password },
    waitReady: (timeoutMs) => simulator.waitForSubscription(timeoutMs),
    play: (call, seq) => simulator.playScenario(eslInboundCall({ ...call, seq, answerAfterMs: RING_MS, talkMs: TALK_MS })),
    close: () => simulator.close(),
  };
}
