import { parsePhoneNumberFromString, type CountryCode, type PhoneNumber } from 'libphonenumber-js';

/**
 * Caller number -> the forms a CRM may have stored it in (docs/lookup.md "Candidates").
 *
 * The caller number is attacker-controlled (SIP From header), so this function never throws
 * and only ever returns strings made of digits and an optional leading `+`: whatever a
 * connector does with them, they carry no quotes, operators or wildcards.
 */

/** Longer input is not a phone number (E.164 allows 15 digits; we leave room for separators). */
export const MAX_NUMBER_CHARS = 64;
/** E.164 numbers have at most 15 digits; 17 allows an IDD prefix such as `00`. */
const MAX_DIGITS = 17;
/** Shorter numbers are internal extensions or service codes, not customers. */
const MIN_DIGITS = 3;
/** What a dialled or presented number may contain besides digits. */
const ALLOWED = /^\+?[0-9 ()./\-]+$/;

export interface NumberCandidates {
  /** Best first: E.164, national with trunk prefix, national without it, digits only. */
  candidates: string[];
  /** The last N digits when `lastDigits` was asked for and the number has that many. */
  lastDigits?: string;
}

export function numberCandidates(
  raw: string,
  opts: { defaultRegion: string; lastDigits?: number },
): NumberCandidates {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > MAX_NUMBER_CHARS) return { candidates: [] };
  const text = raw.trim();
  if (!ALLOWED.test(text)) return { candidates: [] };
  const digits = text.replace(/\D/g, '');
  if (digits.length < MIN_DIGITS || digits.length > MAX_DIGITS) return { candidates: [] };

  const candidates: string[] = [];
  const add = (value: string | undefined): void => {
    if (value && /^\+?\d+$/.test(value) && !candidates.includes(value)) candidates.push(value);
  };

  const primary = parse(text, opts.defaultRegion);
  // A number without `+`/`00` that starts with a country code (`4930123456`) is ambiguous: it
  // may be national in the default region or international without its prefix. libphonenumber
  // picks one; when its pick is not valid we also try the other reading, after it.
  const alternative =
    !text.startsWith('+') && !digits.startsWith('0') ? parse(`+${digits}`, opts.defaultRegion) : undefined;
  const readings = [primary, alternative].filter((p): p is PhoneNumber => p !== undefined);
  readings.sort((a, b) => Number(b.isValid()) - Number(a.isValid()));
  const best = readings[0];
  for (const reading of readings) {
    if (reading !== best && !reading.isValid()) continue;
    add(reading.number);
    add(reading.formatNational().replace(/\D/g, ''));
    add(reading.nationalNumber);
    add(reading.number.slice(1));
  }
  add(digits);

  const result: NumberCandidates = { candidates };
  const n = opts.lastDigits ?? 0;
  if (n > 0 && digits.length >= n) result.lastDigits = digits.slice(-n);
  return result;
}

function parse(text: string, defaultRegion: string): PhoneNumber | undefined {
  try {
    const parsed = parsePhoneNumberFromString(text, {
      defaultCountry: defaultRegion.toUpperCase() as CountryCode,
      extract: false,
    });
    return parsed && parsed.isPossible() ? parsed : undefined;
  } catch {
    // libphonenumber throws on some malformed input in older versions; a bad number is a miss.
    return undefined;
  }
}
