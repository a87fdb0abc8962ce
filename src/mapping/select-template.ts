import type { CallDirection } from '../model/call-event.js';
import { checkKeys, isPlainObject, readStringList, type ConfigSite } from './config-site.js';
import type { PopContext } from './mapping-api.js';

/**
 * Template selection: templates are tried in config order, the first whose `match` fits the
 * call wins, else the default template. A template without `match` is never picked
 * automatically (only as the default or by name).
 */

export type TemplateMatcher = (ctx: PopContext, role: string) => boolean;

const DIRECTIONS: readonly CallDirection[] = ['inbound', 'outbound', 'internal'];
const MATCH_KEYS = ['queues', 'skills', 'roles', 'dids', 'directions'] as const;

export function compileMatcher(site: ConfigSite, match: unknown, skills: ReadonlyMap<string, ReadonlySet<string>>): TemplateMatcher {
  if (!isPlainObject(match)) site.fail('must be a map with any of queues, skills, roles, dids, directions');
  checkKeys(site, match, MATCH_KEYS);
  const tests: TemplateMatcher[] = [];

  if (match.queues !== undefined) {
    const queues = new Set(readStringList(site.key('queues'), match.queues));
    tests.push((ctx) => ctx.call.queue !== undefined && queues.has(ctx.call.queue));
  }
  if (match.skills !== undefined) {
    const queues = new Set<string>();
    readStringList(site.key('skills'), match.skills).forEach((skill, i) => {
      const skillQueues = skills.get(skill);
      if (skillQueues === undefined) {
        const known = [...skills.keys()];
        throw site.key('skills').index(i).error(`unknown skill '${skill}'; ${known.length === 0 ? 'mapping.skills is empty' : `known skills: ${known.join(', ')}`}`);
      }
      for (const q of skillQueues) queues.add(q);
    });
    tests.push((ctx) => ctx.call.queue !== undefined && queues.has(ctx.call.queue));
  }
  if (match.roles !== undefined) {
    const roles = new Set(readStringList(site.key('roles'), match.roles));
    tests.push((_ctx, role) => roles.has(role));
  }
  if (match.dids !== undefined) {
    const dids = new Set(
      readStringList(site.key('dids'), match.dids).map((did, i) => {
        const digits = didDigits(did);
        if (digits === '') site.key('dids').index(i).fail('must contain digits');
        return digits;
      }),
    );
    tests.push((ctx) => ctx.call.did !== undefined && dids.has(didDigits(ctx.call.did)));
  }
  if (match.directions !== undefined) {
    const directions = new Set(
      readStringList(site.key('directions'), match.directions).map((d, i) => {
        if (!(DIRECTIONS as readonly string[]).includes(d)) site.key('directions').index(i).fail(`must be one of ${DIRECTIONS.join(', ')}`);
        return d;
      }),
    );
    tests.push((ctx) => directions.has(ctx.call.direction));
  }
  if (tests.length === 0) site.fail('is empty; give at least one of queues, skills, roles, dids, directions');
  return (ctx, role) => tests.every((t) => t(ctx, role));
}

/** `+49 30 1234-56` and `493012345 6` are the same DID. */
function didDigits(did: string): string {
  return did.replace(/\D/g, '');
}
