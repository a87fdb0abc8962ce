import { pino } from 'pino';
import type { Logger } from '../model/logger.js';

/**
 * The daemon's pino logger. Secrets never reach it by construction (they are not logged),
 * and the redact list is a second fence for objects that might carry one.
 */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  const options = {
    level,
    base: { app: 'callpop' },
    redact: {
      paths: ['*.secret', '*.password', '*.token', '*.client_secret', 'config.*.secret', 'config.*.password', 'headers.authorization'],
      censor: '[redacted]',
    },
  };
  return (destination ? pino(options, destination as never) : pino(options)) as unknown as Logger;
}
