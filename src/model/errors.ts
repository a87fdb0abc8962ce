/**
 * Errors with stable codes that callers switch on (STYLE.md "Errors with stable codes").
 * A message says what to do and never carries a secret.
 */
export type CallpopErrorCode =
  | 'CALLPOP_CONFIG_INVALID'
  | 'CALLPOP_CONFIG_READ'
  | 'CALLPOP_CONFIG_ENV_MISSING'
  | 'CALLPOP_CONFIG_TOO_LARGE'
  | 'CALLPOP_AMI_AUTH'
  | 'CALLPOP_AMI_CONNECT'
  | 'CALLPOP_AMI_FRAME'
  | 'CALLPOP_AMI_ACTION_TIMEOUT'
  | 'CALLPOP_AMI_DISCONNECTED'
  | 'CALLPOP_ESL_AUTH'
  | 'CALLPOP_ESL_CONNECT'
  | 'CALLPOP_ESL_FRAME'
  | 'CALLPOP_ESL_COMMAND'
  | 'CALLPOP_ESL_COMMAND_TIMEOUT'
  | 'CALLPOP_ESL_DISCONNECTED'
  | 'CALLPOP_LOOKUP_TIMEOUT'
  | 'CALLPOP_LOOKUP_FAILED'
  | 'CALLPOP_CONNECTOR_CONFIG'
  | 'CALLPOP_CONNECTOR_UNKNOWN'
  | 'CALLPOP_CONNECTOR_FAILED'
  | 'CALLPOP_BREAKER_OPEN'
  | 'CALLPOP_MAPPING_INVALID'
  | 'CALLPOP_MAPPING_RUNTIME'
  | 'CALLPOP_HUB_PROTOCOL'
  | 'CALLPOP_HUB_AUTH'
  | 'CALLPOP_HUB_LISTEN'
  | 'CALLPOP_STORE';

/** An error with a stable `code`; its message says what to do and carries no secret. */
export class CallpopError extends Error {
  readonly code: CallpopErrorCode;

  constructor(code: CallpopErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CallpopError';
    this.code = code;
  }
}

/** True for a CallpopError, and when `code` is given, one with that code. */
export function isCallpopError(err: unknown, code?: CallpopErrorCode): err is CallpopError {
  return err instanceof CallpopError && (code === undefined || err.code === code);
}

/** A short, secret-free description of any thrown value, for logs and client messages. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
