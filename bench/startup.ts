import { spawn } from 'node:child_process';
import { compared, median, type BenchOptions, type BenchResult } from './bench-result.js';
import { createSqliteCrm } from './lib/bench-crm.js';
import { startBenchSimulator } from './lib/bench-simulator.js';
import { DaemonProcess, tempDir } from './lib/daemon-process.js';

/**
 * Startup: `node bin/callpop run -c <config>` from spawn to ready (the daemon logged both
 * "callpop running", i.e. the hub listens, and "AMI logged in"), p50 over 5 runs after a
 * warm-up run, against the start-to-exit time of `node -e "0"` (what Node itself costs).
 * Also the clean shutdown time (SIGTERM to exit).
 */

function nodeNoop(): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('error', reject);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(performance.now() - start);
    });
  });
}

export async function run(options: Partial<BenchOptions> = {}): Promise<BenchResult[]> {
  const runs = options.quick ? 3 : 5;
  const tmp = tempDir('startup');
  const { sim, port: amiPort } = await startBenchSimulator();
  try {
    const connector = createSqliteCrm(tmp.dir, 0);
    const ready: number[] = [];
    const stops: number[] = [];
    for (let i = 0; i <= runs; i++) {
      const daemon = await DaemonProcess.start({ dir: tmp.dir, amiPort, connector });
      const stopMs = await daemon.stop();
      if (i === 0) continue; // warm-up: file cache, not reported
      ready.push(daemon.readyMs);
      stops.push(stopMs);
    }
    const noop: number[] = [];
    for (let i = 0; i <= runs; i++) {
      const ms = await nodeNoop();
      if (i > 0) noop.push(ms);
    }
    return [
      compared('startup: spawn to ready (hub listening, AMI logged in) p50', median(ready), 'ms', { name: 'node -e "0" start to exit p50', value: median(noop) }, {
        notes: `${runs} runs after a warm-up: ${ready.map((v) => v.toFixed(0)).join(', ')} ms; SQLite CRM, one AMI PBX`,
      }),
      compared('shutdown: SIGTERM to exit p50', median(stops), 'ms', undefined, { notes: `${stops.map((v) => v.toFixed(0)).join(', ')} ms` }),
    ];
  } finally {
    await sim.close();
    tmp.remove();
  }
}
