import type { FieldValue } from '../model/customer.js';
import type { MaskStyle } from './mapping-config.js';

/**
 * Masking for data protection. A masked value never reveals its length: the hidden part is
 * always four `*`, so `4111111111111111` and `1234567` both show as `****` + their last digits.
 */

const STARS = '****';

export function maskValue(value: FieldValue, style: MaskStyle): string {
  // Lists and objects have no meaningful partial form: hide them whole.
  if (typeof value === 'object' && value !== null) return STARS;
  const text = String(value);
  switch (style) {
    case 'all':
      return STARS;
    case 'last4':
      return keepEnd(text, 4);
    case 'last2':
      return keepEnd(text, 2);
    case 'first1':
      // Too short to show a character without giving most of it away.
      return text.length <= 2 ? STARS : `${[...text][0]}${STARS}`;
    case 'email': {
      const at = text.lastIndexOf('@');
      if (at < 1) return STARS;
      return `${[...text][0]}${STARS}${text.slice(at)}`;
    }
  }
}

function keepEnd(text: string, n: number): string {
  const chars = [...text];
  // Showing n of at most 2n characters reveals too much.
  if (chars.length <= n * 2) return STARS;
  return STARS + chars.slice(-n).join('');
}

/** Who sees what, for one field. */
export interface Protection {
  mask?: MaskStyle;
  /** Roles that get the masked value; undefined: every role. */
  maskFor?: ReadonlySet<string>;
  hideFrom?: ReadonlySet<string>;
}

export function isHidden(p: Protection, role: string): boolean {
  return p.hideFrom !== undefined && p.hideFrom.has(role);
}

export function isMasked(p: Protection, role: string): boolean {
  return p.mask !== undefined && (p.maskFor === undefined || p.maskFor.has(role));
}
