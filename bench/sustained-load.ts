import type { WebSocket } from 'ws';
import { compared, percentile, type BenchOptions, type BenchResult } from './bench-result.js';
import { connectAgent } from './lib/agent-socket.js';
import { createSqliteCrm, customerNumber } from './lib/bench-crm.js';
import { startBenchSimulator } from './lib/bench-simulator.js';
import { CallGenerator, eventsPerCall, PopProbe, type LoadOutcome } from './lib/call-load.js';
import { AGENT_TOKEN, DaemonProcess, tempDir } from './lib/daemon-process.js';
import { cpuSeconds, RssSampler } from './lib/proc-stats.js';

/**
 * Sustained load: the highest rate of new calls (each the full AMI event sequence of an
 * answered call) the daemon, in a child process, handles with pop p99 under 50 ms, and
 * its RSS. A quick ramp (rates doubling, short steps) finds the knee, one bisection step
 * refines it, then the best rate is held for up to 60 s (less when the budget is short:
 * the figure says how long it was held). Steps follow each other without a pause, the
 * calls of one step still answering and hanging up during the next, as on a real PBX.
 */

const P99_TARGET_MS = 50;
const FIRST_RATE = 200;
const MAX_RATE = 6_400;
const agentOf = (seq: number): string => String(2000 + (seq % 500));

interface Step {
  rate: number;
  outcome: LoadOutcome;
  p50: number;
  p99: number;
  ok: boolean;
  daemonCpu: number;
}

export async function run(options: Partial<BenchOptions> = {}): Promise<BenchResult[]> {
  const quick = options.quick ?? false;
  const budgetMs = options.budgetMs ?? (quick ? 40_000 : 130_000);
  const stepMs = quick ? 3_000 : 4_000;
  const holdMaxMs = quick ? 8_000 : 60_000;
  const started = performance.now();
  const left = (): number => budgetMs - (performance.now() - started);

  const tmp = tempDir('load');
  const { sim, port: amiPort } = await startBenchSimulator();
  let daemon: DaemonProcess | undefined;
  let socket: WebSocket | undefined;
  try {
    const connector = createSqliteCrm(tmp.dir);
    daemon = await DaemonProcess.start({ dir: tmp.dir, amiPort, connector });
    const probe = new PopProbe();
    socket = await connectAgent(daemon.wsUrl, AGENT_TOKEN, ['*']);
    probe.watch(socket);
    const d = daemon;
    // One generator for the whole run: the ramp's steps follow each other under steady
    // traffic (earlier calls keep answering and hanging up), with the hold's call timing.
    // Calls last ~3 s (event counts as real calls; real talk times only add idle concurrency).
    const timing = { answerAfterMs: 1_000, talkMs: 2_000 };
    const generator = new CallGenerator(sim, probe, { firstSeq: 1, callerNumber: customerNumber, agent: agentOf, ...timing });
    const step = async (rate: number, durationMs: number): Promise<Step> => {
      const cpu0 = cpuSeconds(d.pid);
      const t0 = performance.now();
      const outcome = await generator.step(rate, durationMs);
      const cpu = (cpuSeconds(d.pid) - cpu0) / ((performance.now() - t0) / 1000);
      const samples = [...outcome.latencies, ...Array<number>(outcome.lost).fill(Number.POSITIVE_INFINITY)];
      const p99 = percentile(samples, 99);
      // Passing: p99 under target, nothing lost, and the generator kept the rate.
      const ok = p99 < P99_TARGET_MS && outcome.lost === 0 && outcome.achievedRate >= rate * 0.95;
      return { rate, outcome, p50: percentile(samples, 50), p99, ok, daemonCpu: cpu };
    };
    /** Lets a failed step's calls finish and the daemon catch up before the next step. */
    const settle = async (): Promise<void> => {
      await generator.drain();
      await new Promise((r) => setTimeout(r, 1_000));
    };
    const stepCostMs = stepMs + 1_000;
    const holdReserveMs = (quick ? 5_000 : 30_000) + timing.answerAfterMs + timing.talkMs;

    await step(FIRST_RATE / 2, 1_000); // warm-up (JIT, statements), not reported
    const ramp: Step[] = [];
    let best: Step | undefined;
    let failed: Step | undefined;
    for (let rate = FIRST_RATE; rate <= MAX_RATE && left() > stepCostMs + holdReserveMs; rate *= 2) {
      const s = await step(rate, stepMs);
      ramp.push(s);
      if (!s.ok) {
        failed = s;
        break;
      }
      best = s;
    }
    if (failed) await settle();
    if (best && failed && left() > stepCostMs + timing.answerAfterMs + timing.talkMs + holdReserveMs) {
      // Back to the last good rate for a step (the load a real PBX would be at), then bisect.
      await step(best.rate, Math.min(stepMs, 2_000));
      const mid = Math.round(Math.sqrt(best.rate * failed.rate) / 10) * 10;
      const s = await step(mid, stepMs);
      ramp.push(s);
      if (s.ok) best = s;
      else await settle();
    }
    const rampText = ramp.map((s) => `${s.rate}/s ${s.ok ? 'ok' : 'FAIL'} p99 ${fmt(s.p99)} ms, daemon cpu ${Math.round(s.daemonCpu * 100)}%, bench cpu ${Math.round(s.outcome.generatorCpu * 100)}%`).join('; ');
    if (!best) {
      return [{ name: 'sustained load: max call rate with pop p99 < 50 ms', value: 0, unit: 'calls/s', target: `p99 < ${P99_TARGET_MS} ms`, notes: `no rate passed. ramp: ${rampText}` }];
    }

    // Hold: 10 s windows at the best rate until 60 s pass (or the budget ends). The target
    // is p99 over the whole hold; a window that loses pops, is far over it (4x) or brings the
    // running p99 over it restarts the hold 40 % lower, so the figure is a rate that held.
    // (30 % steps took 4-5 attempts to find a rate that holds as GC pressure builds, leaving
    // no budget for a full 60 s hold; 40 % steps usually need 2-3.)
    const windowMs = quick ? 4_000 : 10_000;
    const reserveMs = timing.answerAfterMs + timing.talkMs + 2_000;
    let rate = best.rate;
    let held: Step[] = [];
    const history: string[] = [];
    let rss = new RssSampler(d.pid);
    let rssAtHoldStart = d.rss();
    while (held.length * windowMs < holdMaxMs && left() > windowMs + reserveMs && rate >= FIRST_RATE / 4) {
      const w = await step(rate, windowMs);
      const running = percentile([...held, w].flatMap((x) => x.outcome.latencies), 99);
      const lost = w.outcome.lost > 0 || w.outcome.achievedRate < rate * 0.95;
      if (!lost && w.p99 < 4 * P99_TARGET_MS && running < P99_TARGET_MS) {
        held.push(w);
        continue;
      }
      history.push(`${rate}/s failed after ${(held.length * windowMs) / 1000} s (window p99 ${fmt(w.p99)} ms, running p99 ${fmt(running)} ms, ${w.outcome.lost} lost)`);
      rate = Math.round((rate * 0.6) / 10) * 10;
      held = [];
      await settle();
      rss.stop();
      rss = new RssSampler(d.pid);
      rssAtHoldStart = d.rss();
    }
    const rssPeak = rss.stop();
    await generator.drain();
    if (held.length === 0) {
      return [
        { name: 'sustained load: max call rate with pop p99 < 50 ms', value: 0, unit: 'calls/s', target: `p99 < ${P99_TARGET_MS} ms`, notes: `no rate held for ${windowMs / 1000} s: ${history.join('; ')}. ramp: ${rampText}` },
      ];
    }
    const heldMs = held.length * windowMs;
    const latencies = held.flatMap((w) => w.outcome.latencies);
    const lost = held.reduce((n, w) => n + w.outcome.lost, 0);
    const p50 = percentile(latencies, 50);
    const p99 = percentile(latencies, 99);
    const events = eventsPerCall();
    const mean = (f: (w: Step) => number): number => held.reduce((n, w) => n + f(w), 0) / held.length;
    const holdNotes =
      `held ${heldMs / 1000} s${heldMs < 60_000 ? ' (the issue asks 60 s; the budget allowed this)' : ''} at ${mean((w) => w.outcome.achievedRate).toFixed(0)} calls/s × ${events} AMI events/call ` +
      `(${Math.round(held.reduce((n, w) => n + w.outcome.events, 0) / (heldMs / 1000))} AMI events/s), answered after ${timing.answerAfterMs / 1000} s, ended ${timing.talkMs / 1000} s later, ` +
      `${latencies.length} pops, ${lost} lost, daemon CPU ${Math.round(mean((w) => w.daemonCpu) * 100)}% (load generator ${Math.round(mean((w) => w.outcome.generatorCpu) * 100)}%), ` +
      `SQLite 100k customers, a new caller every call`;
    return [
      {
        name: 'sustained load: max call rate with pop p99 < 50 ms',
        value: rate,
        unit: 'calls/s',
        target: `p99 < ${P99_TARGET_MS} ms`,
        notes: `${holdNotes}. ${history.length ? `hold: ${history.join('; ')}. ` : ''}ramp (${stepMs / 1000} s steps): ${rampText}`,
      },
      compared('sustained load: pop p50 during hold', p50, 'ms', undefined, { notes: holdNotes }),
      compared('sustained load: pop p99 during hold', p99, 'ms', undefined, { target: `< ${P99_TARGET_MS} ms`, notes: holdNotes }),
      compared('sustained load: daemon RSS peak during hold', rssPeak, 'MiB', undefined, {
        notes: `${fmt(rssAtHoldStart)} MiB at the start of the hold; V8 grows its heap lazily on a machine with free memory, so this is an upper bound, not live data`,
      }),
    ];
  } finally {
    socket?.terminate();
    if (daemon) {
      const warnings = daemon.warnings;
      await daemon.stop();
      if (warnings > 0) process.emitWarning(`sustained-load: the daemon logged ${warnings} warnings/errors`);
    }
    await sim.close();
    tmp.remove();
  }
}

function fmt(v: number): string {
  return Number.isFinite(v) ? v.toFixed(1) : String(v);
}
