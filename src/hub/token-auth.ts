import { createHash, timingSafeEqual } from 'node:crypto';
import type { HubToken } from './hub-config.js';

/**
 * Finds the config token entry for a presented token. Compares SHA-256 digests in constant
 * time so neither the token's content nor its length leaks through timing.
 */
export class TokenAuth {
  private readonly entries: { digest: Buffer; token: HubToken }[];

  constructor(tokens: readonly HubToken[]) {
    this.entries = tokens.map((token) => ({ digest: digest(token.token), token }));
  }

  find(presented: string): HubToken | null {
    const candidate = digest(presented);
    let found: HubToken | null = null;
    // Check every entry (no early return) to keep timing independent of the position.
    for (const entry of this.entries) {
      if (timingSafeEqual(entry.digest, candidate)) found = entry.token;
    }
    return found;
  }

  /** Reads `Authorization: Bearer <token>`. */
  fromHeader(header: string | undefined): HubToken | null {
    const match = /^Bearer\s+(\S+)$/i.exec(header ?? '');
    return match?.[1] ? this.find(match[1]) : null;
  }
}

export function allowsAgent(token: HubToken, agent: string): boolean {
  return token.agents.includes('*') || token.agents.includes(agent);
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}
