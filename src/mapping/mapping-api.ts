import type { CallEvent } from '../model/call-event.js';
import type { CustomerMatch, LookupResult } from '../model/customer.js';
import type { PopPayload } from '../model/pop.js';

/** What a template sees when it renders a pop. */
export interface PopContext {
  call: CallEvent;
  lookup: LookupResult;
  /** The match being rendered (the best one unless the agent picked another). */
  match: CustomerMatch | null;
  /** The agent's role from the hub token (for masking), e.g. `agent`, `supervisor`. */
  role?: string;
}

/**
 * A mapping compiled once at load. Rendering never throws: a field whose expression fails
 * is left out (and logged once per template). Async because JSONata 2 evaluates async.
 */
export interface CompiledMapping {
  /** Names of the templates, for `callpop lookup --template` and errors. */
  readonly templates: readonly string[];
  /** Picks the template for a call (queue, skill group, agent role, DID, else default). */
  select(ctx: PopContext): string;
  /** Renders a pop with the given (or selected) template. */
  render(ctx: PopContext, template?: string): Promise<PopPayload>;
  /** A short label for one match (for the "several customers" picker). */
  label(match: CustomerMatch, template?: string): string;
}
