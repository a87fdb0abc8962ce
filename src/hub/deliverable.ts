/**
 * A message for the agents of one extension, already serialised (without the `v`/`seq`
 * envelope the hub stamps per session). `byRole` holds the variants rendered per token role
 * (templates and masking may differ by role); a session whose role has no variant gets `body`.
 * Serialised once by the producer, so a message fanned out to thousands of sessions is never
 * serialised per session.
 */
export interface Deliverable {
  readonly agent: string;
  readonly body: string;
  readonly byRole?: ReadonlyMap<string, string>;
}

/** Serialises `message` (and its role variants) into a Deliverable for `agent`. */
export function deliverable(agent: string, message: object, byRole?: ReadonlyMap<string, object>): Deliverable {
  const body = JSON.stringify(message);
  if (!byRole || byRole.size === 0) return { agent, body };
  const bodies = new Map<string, string>();
  for (const [role, variant] of byRole) bodies.set(role, variant === message ? body : JSON.stringify(variant));
  return { agent, body, byRole: bodies };
}
