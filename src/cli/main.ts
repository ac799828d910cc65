/** kfn command line: flags -> engine -> view. Each command's module loads only when it runs. */
import { isKfnError, KfnErrors, type KfnError } from '../core/errors.js';
import type { GlobalOptions, Invocation } from './program.js';
import type { Context } from './context.js';

type Flags<T> = T & Record<string, unknown>;

async function dispatch(inv: Invocation): Promise<number> {
  // version and completion load neither the engine nor koffi: they answer on any host.
  // The reconcile agent logs each round: info unless --log-level says otherwise.
  const ctx = async (): Promise<Context> => (await import('./context.js')).createContext(inv.global, inv.name === 'reconcile' ? 'info' : undefined);
  const [arg] = inv.args;
  const f = inv.flags;
  switch (inv.name) {
    case 'validate':
      return (await import('./commands/validate.js')).validateCommand(await ctx(), arg, f as Flags<{ json?: boolean }>);
    case 'plan':
      return (await import('./commands/plan.js')).planCommand(await ctx(), arg, f);
    case 'test':
      return (await import('./commands/test.js')).testCommand(await ctx(), arg, f as Flags<{ packets: string }>);
    case 'apply':
      return (await import('./commands/apply.js')).applyCommand(await ctx(), arg, f);
    case 'destroy':
      return (await import('./commands/apply.js')).destroyCommand(await ctx(), arg, f);
    case 'show':
      return (await import('./commands/show.js')).showCommand(await ctx(), arg, f);
    case 'stats':
      return (await import('./commands/stats.js')).statsCommand(await ctx(), f as unknown as Parameters<typeof import('./commands/stats.js').statsCommand>[1]);
    case 'top':
      return (await import('./commands/top.js')).topCommand(await ctx(), f as unknown as Parameters<typeof import('./commands/top.js').topCommand>[1]);
    case 'export':
      return (await import('./commands/export.js')).exportCommand(await ctx(), f as unknown as Parameters<typeof import('./commands/export.js').exportCommand>[1]);
    case 'import':
      return (await import('./commands/import.js')).importL3afCommand(await ctx(), inv.args[1]!, f as Flags<{ objects: string; out: string }>);
    case 'functions':
      return (await import('./commands/functions.js')).functionsCommand(await ctx(), arg, f as Flags<{ json?: boolean }>);
    case 'serve':
      return (await import('./commands/serve.js')).serveCommand(await ctx(), f as Flags<{ metricsAddr: string }>);
    case 'reconcile':
      return (await import('./commands/reconcile.js')).reconcileCommand(await ctx(), f as unknown as Parameters<typeof import('./commands/reconcile.js').reconcileCommand>[1]);
    case 'drift':
      return (await import('./commands/drift.js')).driftCommand(await ctx(), f as Flags<{ json?: boolean; stack?: string }>);
    case 'status':
      return (await import('./commands/status.js')).statusCommand(await ctx(), f as Flags<{ json?: boolean; stack?: string }>);
    case 'suspend':
      return (await import('./commands/suspend.js')).suspendCommand(await ctx(), f as Flags<{ stack?: string; reason?: string }>);
    case 'resume':
      return (await import('./commands/suspend.js')).resumeCommand(await ctx(), f as Flags<{ stack?: string }>);
    case 'journal-show':
      return (await import('./commands/journal.js')).journalShowCommand(await ctx(), f as Flags<{ json?: boolean }>);
    case 'journal-clear':
      return (await import('./commands/journal.js')).journalClearCommand(await ctx(), f as Flags<{ force?: boolean; lockTimeout?: string }>);
    case 'version':
      return (await import('./commands/version.js')).versionCommand(f as Flags<{ json?: boolean }>);
    case 'completion':
      return (await import('./commands/completion.js')).completionCommand(arg!);
  }
}

/** More errors than anyone reads at a terminal: the rest is counted, and `validate --json` lists them all. */
const MAX_PRINTED_ERRORS = 100;

/** `error[CODE]: message` and its hint for people; under --log-format json one structured record per error. One write. */
function printError(e: KfnError, json: boolean): void {
  const all = e instanceof KfnErrors ? e.errors : [e];
  const lines: string[] = [];
  for (const err of all.slice(0, MAX_PRINTED_ERRORS)) {
    if (json) {
      const record = {
        level: 'error',
        time: new Date().toISOString(),
        pid: process.pid,
        code: err.code,
        msg: err.message,
        ...(err.hint ? { hint: err.hint } : {}),
        ...(err.source ? { file: err.source.file, line: err.source.line ?? null, column: err.source.column ?? null } : {}),
      };
      lines.push(JSON.stringify(record));
      continue;
    }
    lines.push(`error[${err.code}]: ${err.message}`);
    if (err.hint) lines.push(`  hint: ${err.hint}`);
  }
  if (all.length > MAX_PRINTED_ERRORS) {
    const rest = all.length - MAX_PRINTED_ERRORS;
    const code = all[MAX_PRINTED_ERRORS]!.code;
    const msg = `${rest} more error${rest === 1 ? '' : 's'} not shown (${all.length} in all)`;
    const hint = 'fix the ones above first; kfn validate --json lists every one';
    if (json) lines.push(JSON.stringify({ level: 'error', time: new Date().toISOString(), pid: process.pid, code, msg, hint }));
    else lines.push(`error[${code}]: ${msg}`, `  hint: ${hint}`);
  }
  process.stderr.write(lines.join('\n') + '\n');
}

async function run(argv: string[]): Promise<number> {
  // Scripts and health checks ask every host for its version: it answers without loading
  // the command tree (commander and every command's options).
  if (argv.length === 3 && (argv[2] === '--version' || argv[2] === '-V')) return (await import('./commands/version.js')).versionCommand({});
  const [{ buildProgram, VERSION_REQUESTED }, { normalizeArgs }] = await Promise.all([import('./program.js'), import('./terraform-flags.js')]);
  const { program, exitCode } = buildProgram(dispatch);
  const json = (): boolean => program.opts<GlobalOptions>().logFormat === 'json';
  try {
    await program.parseAsync([...argv.slice(0, 2), ...normalizeArgs(argv.slice(2))]);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === VERSION_REQUESTED) return dispatch({ name: 'version', args: [], flags: {}, global: program.opts<GlobalOptions>() });
    if (code === 'commander.helpDisplayed' || code === 'commander.version') return 0;
    if (typeof code === 'string' && code.startsWith('commander.')) return 1;
    if (isKfnError(e)) {
      printError(e, json());
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
