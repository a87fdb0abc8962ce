/**
 * Bounds one header value from a PBX. Caller ID names are attacker-controlled (SIP From
 * display name): a 100 KB name must still give a call, so the codecs cut such a value
 * instead of dropping its frame, and say so in the value itself.
 */

/** Appended to a cut value, so a reader (and the agent's pop) sees that text is missing. */
export const TRUNCATION_MARK = '…[truncated]';

/** Longest header value kept by the AMI and ESL codecs, in UTF-16 code units. */
export const DEFAULT_MAX_VALUE_CHARS = 4096;

/**
 * `value` when it fits in `max`, else its first `max` code units plus the mark. The cut
 * never splits a surrogate pair, so the result is still well-formed text.
 */
export function truncateValue(value: string, max: number): string {
  if (value.length <= max) return value;
  let cut = max;
  const code = value.charCodeAt(cut - 1);
  if (code >= 0xd800 && code <= 0xdbff) cut -= 1;
  return value.slice(0, cut) + TRUNCATION_MARK;
}
