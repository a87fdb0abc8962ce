import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfig } from '../config/load-config.js';
import { Daemon } from '../daemon.js';
import { createLogger } from '../observability/create-logger.js';
import { demoCallScript, type DemoCall } from '../sim/demo-calls.js';
import { startDemoPbx, type DemoPbxType } from '../sim/demo-pbx.js';
import { createSampleCrm, sampleCustomers } from '../sim/sample-crm.js';
import { demoConfig } from './demo-config.js';
import { installShutdown } from './run-command.js';

export interface DemoOptions {
  host: string;
  port: number;
  /** Stop after this many calls (tests, CI); default: until Ctrl-C. */
  calls?: number;
  intervalMs: number;
  /** Which PBX the simulator speaks: AMI (default) or ESL. */
  pbx: DemoPbxType;
}

/**
 * `callpop demo`: a simulated Asterisk (AMI) or FreeSWITCH (ESL) plays realistic inbound
 * calls on loopback, a sample
 * SQLite CRM answers lookups, and the agent page shows the pops. Everything lives in a
 * temporary directory that is removed on exit.
 */
export async function runDemo(options: DemoOptions): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'callpop-demo-'));
  createSampleCrm(join(dir, 'crm.sqlite'));
  const pbxSecret = randomBytes(16).toString('hex');
  const token = randomBytes(12).toString('hex');
  const simulator = await startDemoPbx(options.pbx, pbxSecret);

  const config = await validateConfig(demoConfig({ host: options.host, port: options.port, pbx: simulator.configBlock, token, dir }), { file: '(demo config)', baseDir: dir });
  const logger = createLogger(config.log.level);
  const daemon = await Daemon.create(config, { logger });
  let port: number;
  try {
    ({ port } = await daemon.start());
  } catch (err) {
    await daemon.stop();
    await simulator.close();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }

  const url = `http://${options.host}:${port}/?token=${token}&agents=1001,1002`;
  process.stdout.write(
    `\n  callpop demo is running.\n\n  Agent page:  ${url}\n  (agents 1001 and 1002; a simulated ${options.pbx === 'freeswitch' ? 'FreeSWITCH' : 'Asterisk'} plays a call every ${options.intervalMs < 1000 ? `${options.intervalMs} ms` : `${Math.round(options.intervalMs / 1000)} s`})\n  Sample CRM:  ${join(dir, 'crm.sqlite')}\n  Ctrl-C stops it.\n\n`,
  );
  openBrowser(url);

  const script = demoCallScript(sampleCustomers);
  let played = 0;
  let timer: NodeJS.Timeout | null = null;
  const playNext = () => {
    const call: DemoCall | undefined = script[played % script.length];
    played += 1;
    if (call) {
      logger.info({ caller: call.callerNumber ?? '(withheld)', agent: call.agent, answered: call.answered }, 'demo: simulated PBX places a call');
      simulator.play(call, played).catch((err: unknown) => logger.warn({ err: String(err) }, 'demo call failed'));
    }
    if (options.calls !== undefined && played >= options.calls) {
      timer = setTimeout(() => void stop().then(() => process.exit(0)), 15_000);
      return;
    }
    timer = setTimeout(playNext, options.intervalMs);
  };

  const stop = async () => {
    if (timer) clearTimeout(timer);
    await daemon.stop();
    await simulator.close();
    await rm(dir, { recursive: true, force: true });
  };
  installShutdown(stop, logger);
  await simulator.waitReady(10_000);
  timer = setTimeout(playNext, 1500);
}

/** Opens the agent page on a desktop; silently does nothing on a server or in CI. */
function openBrowser(url: string): void {
  if (process.env.CI || !process.stdout.isTTY) return;
  const command = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : process.env.DISPLAY || process.env.WAYLAND_DISPLAY ? 'xdg-open' : null;
  if (!command) return;
  const child = spawn(command, [url], { stdio: 'ignore', detached: true });
  child.on('error', () => {});
  child.unref();
}
