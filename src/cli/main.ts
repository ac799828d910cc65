#!/usr/bin/env node
/** kfn command line: flags -> engine -> view. */
import { isKfnError, KfnErrors, type KfnError } from '../core/errors.js';
import { createContext } from './context.js';
import { buildProgram, type Dispatch } from './program.js';
import { normalizeArgs } from './terraform-flags.js';

function printError(e: KfnError): void {
  const all = e instanceof KfnErrors ? e.errors : [e];
  for (const err of all) {
    process.stderr.write(`error[${err.code}]: ${err.message}\n`);
    if (err.hint) process.stderr.write(`  hint: ${err.hint}\n`);
  }
}

/** Runs one parsed command; each command's module is loaded only when it runs. */
const dispatch: Dispatch = async (name, globals, args) => {
  const ctx = createContext(globals, name === 'reconcile' ? 'info' : undefined);
  const [a, b] = args as [never, never];
  switch (name) {
    case 'validate':
      return (await import('./commands/validate.js')).validateCommand(ctx, a, b);
    case 'plan':
      return (await import('./commands/plan.js')).planCommand(ctx, a, b);
    case 'apply':
      return (await import('./commands/apply.js')).applyCommand(ctx, a, b);
    case 'destroy':
      return (await import('./commands/apply.js')).destroyCommand(ctx, a, b);
    case 'show':
      return (await import('./commands/show.js')).showCommand(ctx, a, b);
    case 'test':
      return (await import('./commands/test.js')).testCommand(ctx, a, b);
    case 'export':
      return (await import('./commands/export.js')).exportCommand(ctx, a);
    case 'drift':
      return (await import('./commands/drift.js')).driftCommand(ctx, a);
    case 'status':
      return (await import('./commands/status.js')).statusCommand(ctx, a);
    case 'reconcile':
      return (await import('./commands/reconcile.js')).reconcileCommand(ctx, a);
    case 'suspend':
      return (await import('./commands/suspend.js')).suspendCommand(ctx, a);
    case 'resume':
      return (await import('./commands/suspend.js')).resumeCommand(ctx, a);
  }
};

async function run(argv: string[]): Promise<number> {
  const { program, exitCode } = buildProgram(dispatch);
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
  return exitCode();
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
