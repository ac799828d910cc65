#!/usr/bin/env node
/** kfn command line: flags -> engine -> view. */
import { Command, Option } from 'commander';
import { isKfnError, KfnErrors, type KfnError } from '../core/errors.js';
import { kfnVersion } from '../core/version.js';
import { createContext, type Context, type GlobalOptions } from './context.js';
import { normalizeArgs } from './terraform-flags.js';
import { validateCommand } from './commands/validate.js';
import { planCommand } from './commands/plan.js';
import { applyCommand, destroyCommand } from './commands/apply.js';
import { showCommand } from './commands/show.js';
import { testCommand } from './commands/test.js';
import { exportCommand } from './commands/export.js';

function printError(e: KfnError): void {
  const all = e instanceof KfnErrors ? e.errors : [e];
  for (const err of all) {
    process.stderr.write(`error[${err.code}]: ${err.message}\n`);
    if (err.hint) process.stderr.write(`  hint: ${err.hint}\n`);
  }
}

async function run(argv: string[]): Promise<number> {
  let exitCode = 0;
  const program = new Command('kfn')
    .description('Declarative, GitOps-driven eBPF kernel functions')
    .version(kfnVersion())
    .addOption(new Option('--log-level <level>', 'log level').choices(['trace', 'debug', 'info', 'warn', 'error']).default('warn'))
    .addOption(new Option('--log-format <format>', 'log format on stderr').choices(['pretty', 'json']).default('pretty'))
    .showHelpAfterError()
    .exitOverride();
  const ctx = (): Context => createContext(program.opts<GlobalOptions>());

  program
    .command('validate [path]')
    .description('check manifests, objects and typed values without touching the kernel')
    .option('--json', 'machine-readable result on stdout (errors included)')
    .action((path: string | undefined, flags) => void (exitCode = validateCommand(ctx(), path, flags)));
  program
    .command('plan [path]')
    .description('show what apply would change in the kernel')
    .option('--detailed-exitcode', 'exit 2 when there are changes, 0 when none')
    .option('--json', 'machine-readable plan on stdout')
    .option('-o, --out <file>', 'save the plan for `kfn apply FILE` (also -out=FILE)')
    .option('--packets <file>', 'also run these packet cases through the live and the planned chains and show which packets change verdict')
    .action(async (path: string | undefined, flags) => void (exitCode = await planCommand(ctx(), path, flags)));
  program
    .command('test [path]')
    .description('run packet cases through private shadows of the chains (needs root, no interfaces; live chains untouched)')
    .requiredOption('--packets <file>', 'PacketTest file or directory')
    .option('--json', 'machine-readable report on stdout')
    .option('--junit <file>', 'also write a JUnit XML report to FILE (for CI)')
    .action((path: string | undefined, flags) => void (exitCode = testCommand(ctx(), path, flags)));
  program
    .command('apply [path]')
    .description('make the kernel match the manifests (or apply a saved plan file)')
    .option('--auto-approve', 'do not ask for confirmation')
    .option('--lock-timeout <duration>', 'wait this long for another apply to finish (e.g. 30s)')
    .action(async (path: string | undefined, flags) => void (exitCode = await applyCommand(ctx(), path, flags)));
  program
    .command('show [planfile]')
    .description('what kfn runs now, per interface and hook; or a saved plan')
    .option('--json', 'machine-readable live state (or plan)')
    .option('--stats', 'include what each function counted')
    .action(async (planFile: string | undefined, flags) => void (exitCode = await showCommand(ctx(), planFile, flags)));
  program
    .command('destroy [path]')
    .description('detach and unload the chains the manifests declare')
    .option('--all', 'every chain kfn manages on this host, whatever the manifests say')
    .option('--auto-approve', 'do not ask for confirmation')
    .option('--lock-timeout <duration>', 'wait this long for another apply to finish (e.g. 30s)')
    .action(async (path: string | undefined, flags) => void (exitCode = await destroyCommand(ctx(), path, flags)));

  program
    .command('export')
    .description('send IPFIX flow records (RFC 7011) from the flow tables of kfn\'s chains to a collector over UDP')
    .requiredOption('--collector <host:port>', 'where to send, e.g. 198.18.0.1:4739')
    .option('--netns <name>', 'network namespace to send from (where the collector is reachable)')
    .option('--interval <duration>', 'how often to read the flow tables', '10s')
    .option('--active-timeout <duration>', 'export a long-lived flow at least this often', '60s')
    .option('--idle-timeout <duration>', 'a flow idle this long has ended', '15s')
    .option('--domain <id>', 'IPFIX observation domain id', '1')
    .option('--chain <name...>', 'only these chains')
    .option('--once', 'read once, export every flow as it stands, and exit')
    .action(async (flags) => void (exitCode = await exportCommand(ctx(), flags)));

  try {
    await program.parseAsync([...argv.slice(0, 2), ...normalizeArgs(argv.slice(2))]);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'commander.helpDisplayed' || code === 'commander.version') return 0;
    if (typeof code === 'string' && code.startsWith('commander.')) return 1;
    if (isKfnError(e)) {
      printError(e);
      return 1;
    }
    throw e;
  }
  return exitCode;
}

/** Exits only once stdout and stderr are drained: a pipe reader must get every byte. */
function exitAfterFlush(code: number): void {
  process.exitCode = code;
  let pending = 2;
  const done = (): void => void (--pending === 0 && process.exit(code));
  process.stdout.write('', done);
  process.stderr.write('', done);
}

run(process.argv).then(exitAfterFlush, (e: unknown) => {
  process.stderr.write(`internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  exitAfterFlush(1);
});
