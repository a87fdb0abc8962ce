import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { WebSocket } from 'ws';
import { inboundAnsweredCall } from '../src/sim/ami-scenarios.js';
import type { AmiSimulator } from '../src/sim/ami-simulator.js';
import { compared, median, type BenchOptions, type BenchResult } from './bench-result.js';
import { closeAll, connectAgent, openMany, openSocket } from './lib/agent-socket.js';
import { createSqliteCrm } from './lib/bench-crm.js';
import { startBenchSimulator } from './lib/bench-simulator.js';
import { callFrames } from './lib/call-load.js';
import { ChildScript } from './lib/child-script.js';
import { AGENT_TOKEN, AMI_SECRET, AMI_USER, DaemonProcess, tempDir } from './lib/daemon-process.js';
import { openFilesLimit, RssSampler } from './lib/proc-stats.js';

/**
 * Fan-out: 10,000 WebSocket clients all subscribed to one agent extension (a wallboard or
 * supervisor view: the worst case for one pop), one call ringing that agent; time from the
 * ringing written on the AMI socket to the last client receiving its pop, and the daemon's
 * RSS. Reference: the raw relay (bench/lib/raw-relay.ts) sending a pop of the same size to
 * the same number of clients with a bare `ws` server. Both run in child processes.
 */

const WANTED_CLIENTS = 10_000;
/** Descriptors kept free for everything else (logs, SQLite, the AMI socket, node itself). */
const FD_MARGIN = 500;
const AGENT = '1001';
const CALLER = '+4930123456';

interface Round {
  /** ms from the ringing written to the first / median / last client receiving the pop. */
  first: number;
  median: number;
  last: number;
  received: number;
}

/** Counts pops per round across every client, with the receive time of each. */
class FanoutCounter {
  private times: number[] = [];
  private ended = 0;

  watch(socket: WebSocket): void {
    socket.on('message', (data: Buffer) => {
      const at = performance.now();
      const type = (JSON.parse(data.toString()) as { type?: string; state?: string }).type;
      if (type === 'pop') this.times.push(at);
      else if (type === 'call') this.ended++;
    });
  }

  reset(): void {
    this.times = [];
    this.ended = 0;
  }

  /** Waits until `count` pops arrived (bounded); returns the round's figures from `sentAt`. */
  async round(count: number, sentAt: number, timeoutMs: number): Promise<Round> {
    const until = performance.now() + timeoutMs;
    while (this.times.length < count && performance.now() < until) await new Promise((r) => setTimeout(r, 2));
    const spans = this.times.map((t) => t - sentAt);
    return { first: Math.min(...spans), median: median(spans), last: Math.max(...spans), received: spans.length };
  }

  /** Waits (bounded) until `count` call-state messages arrived, so rounds do not overlap. */
  async settled(count: number, timeoutMs: number): Promise<void> {
    const until = performance.now() + timeoutMs;
    while (this.ended < count && performance.now() < until) await new Promise((r) => setTimeout(r, 10));
  }
}

async function playRounds(sim: AmiSimulator, counter: FanoutCounter, clients: number, rounds: number, firstSeq: number, callStates: number): Promise<Round[]> {
  const out: Round[] = [];
  for (let i = 0; i < rounds; i++) {
    const [ring, ...rest] = callFrames(inboundAnsweredCall({ callerNumber: CALLER, agent: AGENT, seq: firstSeq + i }));
    counter.reset();
    const sentAt = performance.now();
    sim.send(ring!.data);
    out.push(await counter.round(clients, sentAt, 30_000));
    // Answer and hang up at once so the next round starts from an idle agent.
    sim.send(rest.map((f) => f.data).join(''));
    await counter.settled(clients * callStates, 15_000);
    await new Promise((r) => setTimeout(r, 200));
  }
  return out;
}

export async function run(options: Partial<BenchOptions> = {}): Promise<BenchResult[]> {
  const quick = options.quick ?? false;
  const limit = openFilesLimit();
  const wanted = quick ? 1_000 : WANTED_CLIENTS;
  const clients = Math.max(100, Math.min(wanted, Math.floor(limit - FD_MARGIN)));
  const fdNote =
    clients < wanted
      ? `${clients} clients, not ${wanted}: open-files limit ${limit} (raise with \`ulimit -n ${wanted + 2 * FD_MARGIN}\` before npm run bench)`
      : `${clients} clients (open-files limit ${limit})`;
  const rounds = quick ? 3 : 5;
  const tmp = tempDir('fanout');
  const { sim, port: amiPort } = await startBenchSimulator();
  let sockets: WebSocket[] = [];
  try {
    // --- callpop ---
    const connector = createSqliteCrm(tmp.dir, 0);
    const daemon = await DaemonProcess.start({ dir: tmp.dir, amiPort, connector, hub: {
        max_connections: clients + 100,
        // Every bench client shares one token and one loopback address, which the hub's
        // per-token session and per-address hello budgets are there to stop in production.
        max_sessions_per_wildcard_token: clients + 100,
        max_unauthenticated_per_address: 1000,
      } });
    let daemonRounds: Round[];
    let rssIdle: number;
    let rssPeak: number;
    let connectMs: number;
    let template: Record<string, unknown> = { type: 'pop' };
    try {
      const rssBefore = daemon.rss();
      const counter = new FanoutCounter();
      const opened = await openMany(clients, () => connectAgent(daemon.wsUrl, AGENT_TOKEN, [AGENT], 20_000), { concurrency: 64, deadlineMs: 90_000 });
      sockets = opened.sockets;
      connectMs = opened.elapsedMs;
      if (opened.error) throw new Error(`connecting agents to the daemon: ${opened.error}`);
      for (const s of sockets) counter.watch(s);
      sockets[0]!.once('message', (data: Buffer) => {
        const m = JSON.parse(data.toString()) as Record<string, unknown>;
        if (m['type'] === 'pop') template = m;
      });
      rssIdle = daemon.rss();
      const sampler = new RssSampler(daemon.pid, 50);
      // Round 1 warms up (JIT, the first lookup is a cache miss); it is not reported.
      daemonRounds = (await playRounds(sim, counter, clients, rounds + 1, 1, 2)).slice(1);
      rssPeak = sampler.stop();
      void rssBefore;
    } finally {
      await closeAll(sockets);
      sockets = [];
      await daemon.stop();
    }

    // --- reference: bare ws server, pop of the same size ---
    const templateFile = join(tmp.dir, 'pop-template.json');
    writeFileSync(templateFile, JSON.stringify(template));
    const relay = await ChildScript.start<{ port: number }>('raw-relay', [String(amiPort), AMI_USER, AMI_SECRET, templateFile]);
    let refRounds: Round[];
    let refRss: number;
    try {
      const counter = new FanoutCounter();
      const opened = await openMany(clients, () => openSocket(`ws://127.0.0.1:${relay.hello.port}/`, 20_000), { concurrency: 64, deadlineMs: 90_000 });
      sockets = opened.sockets;
      if (opened.error) throw new Error(`connecting clients to the bare ws server: ${opened.error}`);
      for (const s of sockets) {
        s.on('error', () => {});
        counter.watch(s);
      }
      const sampler = new RssSampler(relay.pid, 50);
      refRounds = (await playRounds(sim, counter, clients, rounds + 1, 100, 0)).slice(1);
      refRss = sampler.stop();
    } finally {
      await closeAll(sockets);
      sockets = [];
      await relay.stop();
    }

    const lost = daemonRounds.filter((r) => r.received < clients).length;
    const notes =
      `all ${fdNote} subscribed to agent ${AGENT}, one pop (${Buffer.byteLength(JSON.stringify(template))} bytes) per round, ` +
      `median of ${rounds} rounds after a warm-up${lost ? `; ${lost} rounds incomplete` : ''}; connecting them took ${Math.round(connectMs / 1000)} s`;
    const last = median(daemonRounds.map((r) => r.last));
    const mid = median(daemonRounds.map((r) => r.median));
    return [
      compared(`fan-out to ${clients} clients: last pop received`, last, 'ms', { name: 'bare ws server, same bytes', value: median(refRounds.map((r) => r.last)) }, { notes }),
      compared(`fan-out to ${clients} clients: median client`, mid, 'ms', { name: 'bare ws server, same bytes', value: median(refRounds.map((r) => r.median)) }, { notes }),
      compared(`fan-out: daemon RSS with ${clients} clients`, rssPeak, 'MiB', { name: 'bare ws server RSS', value: refRss }, {
        notes: `${rssIdle.toFixed(0)} MiB connected and idle, peak during the pops shown`,
      }),
    ];
  } finally {
    await closeAll(sockets);
    await sim.close();
    tmp.remove();
  }
}
