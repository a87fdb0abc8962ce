import { CallpopError } from '../model/errors.js';

/** The CALLPOP_CONFIG_INVALID error: one `file: problem` line per problem, also kept as `problems`. */
export function configInvalid(file: string, lines: readonly string[]): CallpopError & { problems: string[] } {
  const err = new CallpopError('CALLPOP_CONFIG_INVALID', `${file}: invalid configuration:\n  ${lines.map((l) => `${file}: ${l}`).join('\n  ')}`);
  return Object.assign(err, { problems: [...lines] });
}
