import { loadConfig } from '../config/load-config.js';
import type { Config } from '../config/config-types.js';
import { Daemon } from '../daemon.js';
import { describeError } from '../model/errors.js';
import { createLogger } from '../observability/create-logger.js';

/** `callpop run`: loads the config (refusing to start on an invalid one) and runs until a signal. */
export async function runDaemon(file: string): Promise<void> {
  const config = await loadConfig(file);
  const logger = createLogger(config.log.level);
  logWarnings(config, logger);
  const daemon = await Daemon.create(config, { logger });
  try {
    await daemon.start();
  } catch (err) {
    await daemon.stop();
    throw err;
  }
  installShutdown(async () => daemon.stop(), logger);
  process.on('SIGHUP', () => {
    logger.info({ file }, 'SIGHUP: reloading the config');
    loadConfig(file)
      .then((next) => {
        logWarnings(next, logger);
        return daemon.reload(next);
      })
      .catch((err: unknown) => logger.error({ err: describeError(err) }, 'config reload failed; the previous config keeps running'));
  });
}

/** The loader's warnings (secret-free), once per load, so a reload repeats them until fixed. */
function logWarnings(config: Config, logger: { warn(o: object, m?: string): void }): void {
  for (const warning of config.warnings) logger.warn({ file: config.file }, warning);
}

/** Ctrl-C / SIGTERM stop cleanly once; a second Ctrl-C forces the exit. */
export function installShutdown(stop: () => Promise<void>, logger: { info(o: object, m?: string): void }): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(130);
    stopping = true;
    logger.info({ signal }, 'stopping');
    stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}
