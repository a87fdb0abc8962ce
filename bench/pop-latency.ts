import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AmiSimulator } from '../src/sim/ami-simulator.js';
import { compared, notAvailable, percentile, type BenchOptions, type BenchResult } from './bench-result.js';
import { connectAgent, openSocket } from './lib/agent-socket.js';
import { createPostgresCrm, createSqliteCrm, customerNumber } from './lib/bench-crm.js';
import { startBenchSimulator } from './lib/bench-simulator.js';
import { playLoad, PopProbe, type LoadOutcome } from './lib/call-load.js';
import { ChildScript } from './lib/child-script.js';
import { AGENT_TOKEN, AMI_SECRET, AMI_USER, DaemonProcess, tempDir } from './lib/daemon-process.js';

/**
 * Pop latency: from the agent leg's `Newstate Ringing` written on the AMI socket to the
 * `pop` received by a WebSocket client, at a steady 100 calls/s, for a cache hit, an
 * SQLite miss and a PostgreSQL miss (100k indexed customers), against the raw loopback
 * relay of the same bytes (bench/lib/raw-relay.ts). The daemon runs in a child process.
 */

const RATE = 100;
const HIT_NUMBER = '+4930123456'; // sample customer C-1001
const agentOf = (seq: number): string => String(2000 + (seq % 200));

interface Measured {
  outcome: LoadOutcome;
  /** Lost pops count as infinitely late, so p99/max cannot hide them. */
  samples: number[];
}

class CaseRunner {
  seq = 1;
  constructor(
    private readonly sim: AmiSimulator,
    private readonly durationMs: number,
  ) {}

  /** A short warm-up (JIT, prepared statements, connection pool), then the measured run. */
  async measure(probe: PopProbe, number: (seq: number) => string): Promise<Measured> {
    const warm = await playLoad(this.sim, probe, { rate: RATE, durationMs: Math.min(1_000, this.durationMs / 3), firstSeq: this.seq, callerNumber: number, agent: agentOf, answerAfterMs: 300, talkMs: 300 });
    this.seq = warm.nextSeq;
    const outcome = await playLoad(this.sim, probe, { rate: RATE, durationMs: this.durationMs, firstSeq: this.seq, callerNumber: number, agent: agentOf });
    this.seq = outcome.nextSeq;
    return { outcome, samples: [...outcome.latencies, ...Array<number>(outcome.lost).fill(Number.POSITIVE_INFINITY)] };
  }
}

function rows(label: string, m: Measured, reference: Measured | undefined, notes: string): BenchResult[] {
  const detail = `${m.outcome.latencies.length} pops at ${m.outcome.achievedRate.toFixed(0)} calls/s, ${m.outcome.lost} lost; ${notes}`;
  return ([['p50', 50], ['p99', 99], ['max', 100]] as const).map(([tag, p]) =>
    compared(`pop latency ${label} ${tag}`, percentile(m.samples, p), 'ms', reference ? { name: `raw loopback relay ${tag}`, value: percentile(reference.samples, p) } : undefined, {
      ...(tag === 'p99' ? { target: '< 50 ms' } : {}),
      notes: detail,
    }),
  );
}

async function withAgent<T>(url: string, probe: PopProbe, body: () => Promise<T>, plain = false): Promise<T> {
  const socket = plain ? await openSocket(url) : await connectAgent(url, AGENT_TOKEN, ['*']);
  probe.watch(socket);
  try {
    return await body();
  } finally {
    socket.terminate();
  }
}

export async function run(options: Partial<BenchOptions> = {}): Promise<BenchResult[]> {
  const quick = options.quick ?? false;
  const durationMs = quick ? 2_000 : 8_000;
  const tmp = tempDir('pop');
  const { sim, port: amiPort } = await startBenchSimulator();
  const runner = new CaseRunner(sim, durationMs);
  const measured: { label: string; m: Measured; notes: string }[] = [];
  const skipped: BenchResult[] = [];
  let template: Record<string, unknown> | null = null;
  try {
    const sqlite = createSqliteCrm(tmp.dir);
    const daemon = await DaemonProcess.start({ dir: tmp.dir, amiPort, connector: sqlite });
    try {
      const probe = new PopProbe();
      await withAgent(daemon.wsUrl, probe, async () => {
        measured.push({ label: 'cache hit', m: await runner.measure(probe, () => HIT_NUMBER), notes: 'same caller every call, SQLite CRM behind the cache' });
        measured.push({
          label: 'SQLite miss',
          m: await runner.measure(probe, customerNumber),
          notes: 'a new caller every call (cache miss), found in an indexed SQLite table of 100k customers',
        });
      });
      template = probe.firstPop;
    } finally {
      await daemon.stop();
    }

    const pg = await postgresCase(tmp.dir, amiPort, runner);
    if ('m' in pg) measured.push(pg);
    else skipped.push(pg);
    skipped.push(notAvailable('pop latency REST miss', 'no REST connector yet', 'ms'));

    // Reference: the same load through the raw relay, with a pop of the daemon's size.
    const templateFile = join(tmp.dir, 'pop-template.json');
    writeFileSync(templateFile, JSON.stringify(template ?? { type: 'pop' }));
    const relay = await ChildScript.start<{ port: number }>('raw-relay', [String(amiPort), AMI_USER, AMI_SECRET, templateFile]);
    let reference: Measured | undefined;
    try {
      const probe = new PopProbe();
      reference = await withAgent(`ws://127.0.0.1:${relay.hello.port}/`, probe, () => runner.measure(probe, customerNumber), true);
    } finally {
      await relay.stop();
    }

    const out = measured.flatMap(({ label, m, notes }) => rows(label, m, reference, notes));
    if (reference) {
      out.push(
        compared('pop latency raw loopback relay p50', percentile(reference.samples, 50), 'ms', undefined, {
          notes: `reference: AMI socket -> plain TCP reader -> ws.send of a ${Buffer.byteLength(JSON.stringify(template ?? {}))}-byte pop, same load`,
        }),
      );
    }
    return [...out, ...skipped];
  } finally {
    await sim.close();
    tmp.remove();
  }
}

type PgCase = { label: string; m: Measured; notes: string } | BenchResult;

async function postgresCase(dir: string, amiPort: number, runner: CaseRunner): Promise<PgCase> {
  let helper: typeof import('../test/helpers/pg-server.js');
  try {
    helper = await import('../test/helpers/pg-server.js');
  } catch (err) {
    return notAvailable('pop latency PostgreSQL miss', `test/helpers/pg-server.ts: ${(err as Error).message}`, 'ms');
  }
  const reason = helper.pgUnavailableReason();
  if (reason) return notAvailable('pop latency PostgreSQL miss', reason, 'ms');
  let server: Awaited<ReturnType<typeof helper.startPgServer>> | undefined;
  try {
    server = await helper.startPgServer();
    const connector = await createPostgresCrm(server.url);
    const daemon = await DaemonProcess.start({ dir, amiPort, connector });
    try {
      const probe = new PopProbe();
      const m = await withAgent(daemon.wsUrl, probe, () => runner.measure(probe, customerNumber));
      return { label: 'PostgreSQL miss', m, notes: 'a new caller every call, indexed PostgreSQL table of 100k customers on loopback' };
    } finally {
      await daemon.stop();
    }
  } catch (err) {
    return notAvailable('pop latency PostgreSQL miss', (err as Error).message.slice(0, 200), 'ms');
  } finally {
    await server?.stop();
  }
}
