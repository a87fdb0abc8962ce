import type { WebSocket } from 'ws';
import { inboundAnsweredCall } from '../../src/sim/ami-scenarios.js';
import type { AmiSimulator, ScenarioFrame } from '../../src/sim/ami-simulator.js';

/**
 * The load generator: starts answered inbound calls at a steady rate on the AMI simulator,
 * each with the full event sequence of a real answered call (src/sim/ami-scenarios.ts),
 * and times every pop from the moment the agent leg's `Newstate Ringing` is written on
 * the AMI socket to the moment a WebSocket client receives the pop for that call.
 *
 * The frames up to the ringing (trunk Newchannel, Dial, agent Newchannel, ringing) are
 * written together: the daemon's caller-ID prefetch at the trunk's Newchannel then gets no
 * head start, so a lookup miss is fully inside the measured time (the worst case; a real
 * PBX usually leaves tens of ms between the trunk's Newchannel and the agent ringing).
 * Answer and hang-up frames follow at `answerAfterMs` and `talkMs`, as on a real PBX.
 */

export interface LoadPlan {
  /** New calls per second. */
  rate: number;
  durationMs: number;
  /** Sequence number of the first call; ids (Uniqueid/Linkedid) are unique per seq. */
  firstSeq: number;
  callerNumber(seq: number): string;
  agent(seq: number): string;
  answerAfterMs?: number;
  talkMs?: number;
  /** How long to wait for the last pops after the last frame is written. */
  graceMs?: number;
}

export interface LoadOutcome {
  /** Calls started (their ringing written). */
  calls: number;
  /** Pop latencies in ms, one per call whose pop arrived. */
  latencies: number[];
  /** Calls whose pop did not arrive within the grace time. */
  lost: number;
  /** AMI events and bytes written. */
  events: number;
  bytes: number;
  /** Calls started per second as achieved by the generator (below `rate` if it fell behind). */
  achievedRate: number;
  /** Next free sequence number. */
  nextSeq: number;
}

/** Listens on agent sockets for pops and times them against the write time of their ringing. */
export class PopProbe {
  private readonly sentAt = new Map<string, number>();
  private samples: number[] = [];
  /** A copy of the first pop seen, as a template for the reference relay. */
  firstPop: Record<string, unknown> | null = null;

  watch(socket: WebSocket): void {
    socket.on('message', (data: Buffer) => {
      const receivedAt = performance.now();
      const message = JSON.parse(data.toString()) as { type?: string; callId?: string };
      if (message.type !== 'pop' || typeof message.callId !== 'string') return;
      this.firstPop ??= message as Record<string, unknown>;
      const sent = this.sentAt.get(message.callId);
      if (sent === undefined) return;
      this.sentAt.delete(message.callId);
      this.samples.push(receivedAt - sent);
    });
  }

  expect(callId: string, at: number): void {
    this.sentAt.set(callId, at);
  }

  get outstanding(): number {
    return this.sentAt.size;
  }

  /** Takes the samples so far and forgets outstanding calls (they count as lost). */
  take(): { latencies: number[]; lost: number } {
    const out = { latencies: this.samples, lost: this.sentAt.size };
    this.samples = [];
    this.sentAt.clear();
    return out;
  }
}

interface QueuedFrame {
  dueAt: number;
  data: string;
  /** Set on the frame that carries the agent leg's ringing. */
  callId?: string;
}

/** A call's frames as the generator writes them: everything up to the ringing at offset 0. */
export function callFrames(frames: readonly ScenarioFrame[]): { atMs: number; data: string; ringing: boolean }[] {
  const sorted = [...frames].sort((a, b) => a.atMs - b.atMs);
  const ringIndex = sorted.findIndex((f) => /Event: Newstate\r\n[^]*?ChannelStateDesc: Ringing/.test(f.data));
  if (ringIndex < 0) throw new Error('scenario has no Newstate Ringing frame');
  const ringAt = sorted[ringIndex]!.atMs;
  const head = sorted.slice(0, ringIndex + 1).map((f) => f.data).join('');
  return [{ atMs: 0, data: head, ringing: true }, ...sorted.slice(ringIndex + 1).map((f) => ({ atMs: f.atMs - ringAt, data: f.data, ringing: false }))];
}

/** Events in one answered call of the generator (for the report). */
export function eventsPerCall(): number {
  const frames = inboundAnsweredCall({ callerNumber: '+4930123456', agent: '2000', seq: 0 });
  return frames.reduce((n, f) => n + (f.data.match(/^Event: /gm)?.length ?? 0), 0);
}

const TICK_MS = 2;

/** Plays `plan` on `sim`, timing pops with `probe`. Bounded: duration + ring + talk + grace. */
export async function playLoad(sim: AmiSimulator, probe: PopProbe, plan: LoadPlan): Promise<LoadOutcome> {
  const answerAfterMs = plan.answerAfterMs ?? 1_000;
  const talkMs = plan.talkMs ?? 2_000;
  const graceMs = plan.graceMs ?? 1_000;
  const total = Math.max(1, Math.round((plan.rate * plan.durationMs) / 1000));
  const interval = 1000 / plan.rate;
  // One FIFO per frame position: calls start in order, so each queue stays sorted by due time.
  const queues: QueuedFrame[][] = [];
  const heads: number[] = [];
  let started = 0;
  let events = 0;
  let bytes = 0;
  const start = performance.now();
  let lastStartedAt = start;
  const hardStop = start + plan.durationMs + answerAfterMs + talkMs + 5_000;

  const startCall = (i: number, now: number): void => {
    const seq = plan.firstSeq + i;
    const frames = callFrames(inboundAnsweredCall({ callerNumber: plan.callerNumber(seq), agent: plan.agent(seq), seq, answerAfterMs, talkMs }));
    frames.forEach((frame, position) => {
      const queue = (queues[position] ??= []);
      heads[position] ??= 0;
      const callId = frame.ringing ? `${1_795_371_075 + seq}.0` : undefined;
      queue.push({ dueAt: now + frame.atMs, data: frame.data, ...(callId ? { callId } : {}) });
    });
  };

  for (;;) {
    const now = performance.now();
    while (started < total && start + started * interval <= now) {
      startCall(started++, now);
      lastStartedAt = now;
    }
    let batch = '';
    const ringing: string[] = [];
    for (let position = 0; position < queues.length; position++) {
      const queue = queues[position]!;
      let head = heads[position]!;
      while (head < queue.length && queue[head]!.dueAt <= now) {
        const frame = queue[head]!;
        batch += frame.data;
        if (frame.callId) ringing.push(frame.callId);
        queue[head] = undefined as unknown as QueuedFrame; // let the string go
        head++;
      }
      heads[position] = head;
    }
    if (batch.length > 0) {
      const writtenAt = performance.now();
      for (const callId of ringing) probe.expect(callId, writtenAt);
      sim.send(batch);
      events += batch.match(/^Event: /gm)?.length ?? 0;
      bytes += Buffer.byteLength(batch);
    }
    const drained = started >= total && queues.every((q, p) => heads[p]! >= q.length);
    if (drained || now > hardStop) break;
    await new Promise((r) => setTimeout(r, TICK_MS));
  }
  const sendEnd = performance.now();
  while (probe.outstanding > 0 && performance.now() - sendEnd < graceMs) await new Promise((r) => setTimeout(r, 10));
  const { latencies, lost } = probe.take();
  const spanS = (lastStartedAt - start) / 1000;
  const achievedRate = started > 1 && spanS > 0 ? (started - 1) / spanS : plan.rate;
  return { calls: started, latencies, lost, events, bytes, achievedRate, nextSeq: plan.firstSeq + total };
}
