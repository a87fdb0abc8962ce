import type { ErrorObject } from 'ajv';

/** ajv error -> `connectors[1].driver: must be one of sqlite, postgres, mysql`. */
export function formatError(path: string, e: ErrorObject): string {
  const at = path + e.instancePath.split('/').slice(1).map((seg) => (/^\d+$/.test(seg) ? `[${seg}]` : `.${seg.replace(/~1/g, '/').replace(/~0/g, '~')}`)).join('');
  switch (e.keyword) {
    case 'required':
      return `${at}.${String(e.params.missingProperty)}: is required`;
    case 'additionalProperty':
    case 'additionalProperties':
      return `${at}.${String(e.params.additionalProperty)}: is not a known key`;
    case 'enum':
      return `${at}: must be one of ${(e.params.allowedValues as unknown[]).map(String).join(', ')}`;
    default:
      return `${at}: ${e.message ?? 'is invalid'}`;
  }
}
