import type { CustomerMatch } from '../model/customer.js';
import type { ConfigSite } from './config-site.js';
import { parseRecordPath, readPath, type PathStep } from './record-path.js';

/**
 * `{path}` placeholder templates, for per-template links
 * (`https://crm.example.com/customers/{id}`) and picker labels (`{first_name} {last_name}`).
 * `{$id}` and `{$source}` are the match's CRM id and connector name.
 */

type Part = { text: string } | { path: PathStep[]; raw: string } | { special: 'id' | 'source' };

export interface PlaceholderTemplate {
  /** The placeholder paths as written, for checking them against protected fields. */
  readonly paths: readonly string[];
  /**
   * Fills the placeholders. A placeholder with no usable value makes the result `undefined`,
   * or, with `loose`, is left empty.
   */
  fill(match: CustomerMatch, encode: (s: string) => string, loose?: boolean): string | undefined;
}

export function compilePlaceholders(site: ConfigSite, text: string): PlaceholderTemplate {
  const parts: Part[] = [];
  let i = 0;
  while (i < text.length) {
    const open = text.indexOf('{', i);
    const strayClose = text.indexOf('}', i);
    if (strayClose >= 0 && (open < 0 || strayClose < open)) site.fail(`"}" without "{" at position ${strayClose + 1}`);
    if (open < 0) {
      parts.push({ text: text.slice(i) });
      break;
    }
    if (open > i) parts.push({ text: text.slice(i, open) });
    const close = text.indexOf('}', open);
    if (close < 0) site.fail(`unclosed "{" at position ${open + 1}`);
    const inner = text.slice(open + 1, close).trim();
    if (inner === '$id') parts.push({ special: 'id' });
    else if (inner === '$source') parts.push({ special: 'source' });
    else {
      const path = parseRecordPath(inner);
      if (typeof path === 'string') site.fail(`placeholder {${inner}}: ${path}`);
      parts.push({ path, raw: inner });
    }
    i = close + 1;
  }
  const paths = parts.flatMap((p) => ('raw' in p ? [p.raw] : []));
  return {
    paths,
    fill(match, encode, loose = false) {
      let out = '';
      for (const part of parts) {
        if ('text' in part) {
          out += part.text;
          continue;
        }
        const value = 'special' in part ? match[part.special] : readPath(match.record, part.path);
        if (typeof value === 'number' && Number.isFinite(value)) out += encode(String(value));
        else if (typeof value === 'string' && value.trim() !== '') out += encode(value);
        else if (!loose) return undefined; // missing, null, or a list/object that has no single text form
      }
      return out;
    },
  };
}

/** Schemes a link may use; caller data cannot change it (placeholders are refused before the `:`). */
const LINK_SCHEME = /^(https?|mailto|tel|sips?):/i;

export function compileLink(site: ConfigSite, url: string): PlaceholderTemplate {
  const scheme = LINK_SCHEME.exec(url);
  if (scheme === null) site.fail('must start with http:, https:, mailto:, tel:, sip: or sips: (written out, not from a placeholder)');
  return compilePlaceholders(site, url);
}

export const encodeForUrl = encodeURIComponent;

const MAX_LABEL_CHARS = 200;

/**
 * Labels are shown as text: values are kept as they are, and the gaps left by missing parts
 * are tidied (`Ann Lee ()` -> `Ann Lee`). `undefined` when nothing is left.
 */
export function fillLabel(template: PlaceholderTemplate, match: CustomerMatch): string | undefined {
  const filled = template.fill(match, (s) => s, true) ?? '';
  const tidy = filled
    .replace(/\(\s*\)|\[\s*\]/g, '')
    .replace(/\s+/g, ' ')
    .replace(/([([]) /g, '$1')
    .replace(/ ([)\]])/g, '$1')
    .replace(/^[\s,;:|/-]+|[\s,;:|/-]+$/g, '');
  if (tidy === '') return undefined;
  const chars = [...tidy];
  return chars.length > MAX_LABEL_CHARS ? `${chars.slice(0, MAX_LABEL_CHARS - 1).join('')}…` : tidy;
}
