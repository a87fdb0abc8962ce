import { loadConfig } from '../config/load-config.js';
import { ConnectorRegistry } from '../connectors/registry.js';
import { describeError } from '../model/errors.js';
import { silentLogger } from '../model/logger.js';
import { pbxDefinitionFor } from '../pbx/pbx-registry.js';

interface CheckLine {
  what: string;
  ok: boolean;
  detail: string;
}

/**
 * `callpop check`: the config is valid, and every PBX and connector answers. Prints one line
 * per item with the reason; exits 0 only when all are ok.
 */
export async function runCheck(file: string, timeoutMs: number, out: (line: string) => void = console.log): Promise<number> {
  const config = await loadConfig(file);
  out(`ok      config ${config.file}`);
  for (const warning of config.warnings) out(`WARNING ${warning}`);
  const lines: CheckLine[] = [];

  await Promise.all(
    config.pbx.map(async (entry) => {
      const definition = pbxDefinitionFor(entry.type);
      const what = `pbx ${entry.id} (${entry.type})`;
      if (!definition) return void lines.push({ what, ok: false, detail: 'unknown type' });
      const adapter = definition.create(entry, { logger: silentLogger });
      try {
        const health = await adapter.check(AbortSignal.timeout(timeoutMs));
        lines.push({ what, ...health });
      } catch (err) {
        lines.push({ what, ok: false, detail: describeError(err) });
      } finally {
        await adapter.stop().catch(() => {});
      }
    }),
  );

  const registry = new ConnectorRegistry();
  for (const block of config.connectors) {
    const what = `connector ${block.name} (${block.type})`;
    try {
      const connector = await registry.create(block, { name: block.name, logger: silentLogger, baseDir: config.baseDir });
      try {
        lines.push({ what, ...(await connector.health(AbortSignal.timeout(timeoutMs))) });
      } finally {
        await connector.close();
      }
    } catch (err) {
      lines.push({ what, ok: false, detail: describeError(err) });
    }
  }

  for (const line of lines) out(`${line.ok ? 'ok    ' : 'FAILED'}  ${line.what}: ${line.detail}`);
  const failed = lines.filter((l) => !l.ok).length;
  out(failed === 0 ? 'all checks passed' : `${failed} check(s) failed`);
  return failed === 0 ? 0 : 1;
}
