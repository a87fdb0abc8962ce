import { Command, Option } from 'commander';
import { isCallpopError } from '../model/errors.js';
import { DEMO_PBX_TYPES, type DemoPbxType } from '../sim/demo-pbx.js';
import { runCacheClear } from './cache-command.js';
import { runCheck } from './check-command.js';
import { runDemo } from './demo-command.js';
import { runLookup } from './lookup-command.js';
import { runDaemon } from './run-command.js';

const program = new Command();
program
  .name('callpop')
  .description('CTI middleware: PBX call events in, CRM-enriched screen pops out over WebSocket')
  .showHelpAfterError();

program
  .command('run')
  .description('run the daemon')
  .requiredOption('-c, --config <file>', 'config file (YAML)')
  .action((opts: { config: string }) => runDaemon(opts.config));

program
  .command('check')
  .description('validate the config and test every PBX and CRM connection')
  .requiredOption('-c, --config <file>', 'config file (YAML)')
  .option('--timeout <ms>', 'per-connection timeout', '5000')
  .action(async (opts: { config: string; timeout: string }) => {
    process.exitCode = await runCheck(opts.config, Number(opts.timeout));
  });

program
  .command('lookup')
  .description('print the pop an agent would get for a number')
  .requiredOption('-c, --config <file>', 'config file (YAML)')
  .option('-t, --template <name>', 'render with this template instead of the selected one')
  .option('--agent <extension>', 'agent extension to render for', '1001')
  .option('--role <role>', 'agent role (for masking)')
  .option('--queue <queue>', 'queue the call came through (for template selection)')
  .argument('<number>', 'caller number as the PBX would give it')
  .action(async (number: string, opts: { config: string; template?: string; agent: string; role?: string; queue?: string }) => {
    process.exitCode = await runLookup(opts.config, number, opts);
  });

program
  .command('demo')
  .description('simulated PBX playing calls, a sample SQLite CRM, and the agent page in the browser')
  .option('-p, --port <port>', 'HTTP/WebSocket port of the agent page', '8080')
  .option('--host <host>', 'address to listen on', '127.0.0.1')
  .option('--calls <n>', 'stop after this many simulated calls (default: run until Ctrl-C)')
  .option('--interval <ms>', 'time between simulated calls', '6000')
  .addOption(new Option('--pbx <type>', 'which PBX the simulator speaks').choices([...DEMO_PBX_TYPES]).default('asterisk'))
  .action((opts: { port: string; host: string; calls?: string; interval: string; pbx: DemoPbxType }) =>
    runDemo({ port: Number(opts.port), host: opts.host, calls: opts.calls ? Number(opts.calls) : undefined, intervalMs: Number(opts.interval), pbx: opts.pbx }),
  );

const cache = program.command('cache').description('lookup cache of a running daemon');
cache
  .command('clear')
  .description('drop cached lookups (all, or one number) in the running daemon')
  .requiredOption('-c, --config <file>', 'config file of the running daemon (for its address and an admin token)')
  .argument('[number]', 'only this number')
  .action(async (number: string | undefined, opts: { config: string }) => {
    process.exitCode = await runCacheClear(opts.config, number);
  });

/** A config the admin must fix: exit 2, so scripts tell it from a failed connection (exit 1). */
const CONFIG_ERROR_CODES: ReadonlySet<string> = new Set(['CALLPOP_CONFIG_INVALID', 'CALLPOP_CONFIG_READ', 'CALLPOP_CONFIG_ENV_MISSING', 'CALLPOP_CONFIG_TOO_LARGE']);

program.parseAsync(process.argv).catch((err: unknown) => {
  if (isCallpopError(err)) {
    console.error(`callpop: ${err.message}`);
    process.exitCode = CONFIG_ERROR_CODES.has(err.code) ? 2 : 1;
  } else {
    console.error('callpop: unexpected error:', err);
    process.exitCode = 1;
  }
});
