#!/usr/bin/env node
/** kfn command line: validate, plan, apply, show, destroy. */
import fs from 'node:fs';
import { Command, Option } from 'commander';
import { isKfnError, KfnErrors, type KfnError } from '../core/errors.js';
import { createContext, type Context, type GlobalOptions } from './context.js';
import { validateCommand } from './commands/validate.js';
import { planCommand } from './commands/plan.js';
import { applyCommand, destroyCommand } from './commands/apply.js';
import { showCommand } from './commands/show.js';

function packageVersion(): string {
  const pkg = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

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
    .version(packageVersion())
    .addOption(new Option('--log-level <level>', 'log level').choices(['trace', 'debug', 'info', 'warn', 'error']).default('warn'))
    .addOption(new Option('--log-format <format>', 'log format on stderr').choices(['pretty', 'json']).default('pretty'))
    .showHelpAfterError()
    .exitOverride();
  const ctx = (): Context => createContext(program.opts<GlobalOptions>());

  program
    .command('validate [path]')
    .description('check manifests, objects and typed values without touching the kernel')
    .action((path?: string) => void (exitCode = validateCommand(ctx(), path)));
  program
    .command('plan [path]')
    .description('show what apply would change in the kernel')
    .option('--detailed-exitcode', 'exit 2 when there are changes, 0 when none')
    .option('--json', 'machine-readable plan on stdout')
    .option('-o, --out <file>', 'save the plan for `kfn apply FILE`')
    .action((path: string | undefined, flags) => void (exitCode = planCommand(ctx(), path, flags)));
  program
    .command('apply [path]')
    .description('make the kernel match the manifests (or apply a saved plan file)')
    .option('--auto-approve', 'do not ask for confirmation')
    .option('--lock-timeout <duration>', 'wait this long for another apply to finish (e.g. 30s)')
    .action(async (path: string | undefined, flags) => void (exitCode = await applyCommand(ctx(), path, flags)));
  program
    .command('show')
    .description('what kfn runs now, per interface and hook')
    .option('--json', 'machine-readable live state')
    .option('--stats', 'include what each function counted')
    .action((flags) => void (exitCode = showCommand(ctx(), flags)));
  program
    .command('destroy [path]')
    .description('detach and unload the chains the manifests declare')
    .option('--all', 'every chain kfn manages on this host, whatever the manifests say')
    .option('--auto-approve', 'do not ask for confirmation')
    .option('--lock-timeout <duration>', 'wait this long for another apply to finish (e.g. 30s)')
    .action(async (path: string | undefined, flags) => void (exitCode = await destroyCommand(ctx(), path, flags)));

  try {
    await program.parseAsync(argv);
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

run(process.argv).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
