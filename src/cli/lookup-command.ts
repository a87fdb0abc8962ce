import { loadConfig } from '../config/load-config.js';
import { ConnectorRegistry } from '../connectors/registry.js';
import { createConnectors } from '../lookup/crm-lookup.js';
import { renderPopMessage } from '../pops/render-pop.js';
import { PROTOCOL_VERSION } from '../hub/protocol.js';
import { createLookupService } from '../lookup/lookup-service.js';
import { compileMapping } from '../mapping/compile-mapping.js';
import type { CallEvent } from '../model/call-event.js';
import { CallpopError } from '../model/errors.js';
import type { LookupResult } from '../model/customer.js';
import { createLogger } from '../observability/create-logger.js';

export interface LookupCommandOptions {
  template?: string;
  agent: string;
  role?: string;
  queue?: string;
}

/** `callpop lookup`: the exact pop message an agent would get for a call from `number`. */
export async function runLookup(file: string, number: string, opts: LookupCommandOptions, out: (text: string) => void = console.log): Promise<number> {
  const config = await loadConfig(file);
  // Logs go to stderr so stdout stays one JSON document.
  const logger = createLogger(config.log.level === 'info' ? 'warn' : config.log.level, process.stderr);
  const mapping = compileMapping(config.mapping, { file: config.file }, logger);
  if (opts.template && !mapping.templates.includes(opts.template)) {
    throw new CallpopError('CALLPOP_MAPPING_INVALID', `no template named '${opts.template}' (templates: ${mapping.templates.join(', ')})`);
  }
  const connectors = await createConnectors(config, new ConnectorRegistry(), logger);
  const lookup = createLookupService(config.lookup, connectors, { logger });
  try {
    const result = await new Promise<LookupResult>((resolve, reject) => {
      lookup.lookup(number, { onUpdate: resolve }).then((first) => {
        if (!first.pending) resolve(first);
      }, reject);
    });
    const call: CallEvent = {
      kind: 'ringing',
      callId: 'cli-lookup',
      legId: 'cli-lookup',
      pbxId: config.pbx[0]?.id ?? 'cli',
      direction: 'inbound',
      caller: { number, name: null },
      callee: { number: opts.agent, name: null },
      agent: { extension: opts.agent, device: `cli/${opts.agent}` },
      anonymous: false,
      at: Date.now(),
      ...(opts.queue ? { queue: opts.queue } : {}),
    };
    const role = opts.role ?? config.hub.tokens[0]?.role ?? 'agent';
    const pop = await renderPopMessage(mapping, 'pop', call, result, { role, ...(opts.template ? { template: opts.template } : {}) });
    out(JSON.stringify({ v: PROTOCOL_VERSION, seq: 1, ...pop }, null, 2));
    for (const e of result.errors) console.error(`warning: source ${e.source} failed: ${e.code} ${e.message}`);
    return 0;
  } finally {
    await lookup.close();
    await Promise.allSettled([...connectors.values()].map((c) => c.close()));
  }
}
