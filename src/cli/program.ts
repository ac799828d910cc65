/**
 * The command tree: every command and flag, wired to one dispatcher. main.ts gives it
 * the dispatcher that runs commands; tests give it one that only records what was
 * parsed, so that every `kfn` command line in examples/ is checked by the real parser.
 */
import { Command, Option } from 'commander';
import { kfnVersion } from '../core/version.js';
import type { GlobalOptions } from './context.js';

export const COMMANDS = ['validate', 'plan', 'test', 'apply', 'show', 'destroy', 'export', 'drift', 'status', 'reconcile', 'suspend', 'resume'] as const;
export type CommandName = (typeof COMMANDS)[number];

/** Runs (or records) one parsed command: its positional arguments, then its options. */
export type Dispatch = (name: CommandName, globals: GlobalOptions, args: unknown[]) => number | Promise<number>;

const stackOption = (): Option => new Option('--stack <name>', 'the stack (default: derived from the manifests path; docs/gitops.md)').env('KFN_STACK');
const hostLabels = (): Option => new Option('--host-labels <k=v,...>', "this host's labels, for the chains' host selectors");
const hostLabelsFile = (): Option => new Option('--host-labels-file <file>', "this host's labels, one key=value per line");
const lockTimeout = (): Option => new Option('--lock-timeout <duration>', 'wait this long for another apply to finish (e.g. 30s)');

export function buildProgram(dispatch: Dispatch): { program: Command; exitCode: () => number } {
  let exitCode = 0;
  const program = new Command('kfn')
    .description('Declarative, GitOps-driven eBPF kernel functions')
    .version(kfnVersion())
    .addOption(new Option('--log-level <level>', 'log level (default warn; info for reconcile)').choices(['trace', 'debug', 'info', 'warn', 'error']).default('warn'))
    .addOption(new Option('--log-format <format>', 'log format on stderr').choices(['pretty', 'json']).default('pretty'))
    .showHelpAfterError()
    .exitOverride();
  const globals = (): GlobalOptions => ({ ...program.opts<GlobalOptions>(), logLevelGiven: program.getOptionValueSource('logLevel') === 'cli' });
  const run =
    (name: CommandName) =>
    async (...args: unknown[]): Promise<void> => {
      // commander passes the positional arguments, the options, then the Command itself.
      exitCode = await dispatch(name, globals(), args.slice(0, -1));
    };

  program
    .command('validate [path]')
    .description('check manifests, objects and typed values without touching the kernel')
    .option('--json', 'machine-readable result on stdout (errors included)')
    .action(run('validate'));
  program
    .command('plan [path]')
    .description('show what apply would change in the kernel')
    .option('--detailed-exitcode', 'exit 2 when there are changes, 0 when none')
    .option('--json', 'machine-readable plan on stdout')
    .option('-o, --out <file>', 'save the plan for `kfn apply FILE` (also -out=FILE)')
    .option('--packets <file>', 'also run these packet cases through the live and the planned chains and show which packets change verdict')
    .addOption(stackOption())
    .addOption(hostLabels())
    .addOption(hostLabelsFile())
    .action(run('plan'));
  program
    .command('test [path]')
    .description('run packet cases through private shadows of the chains (needs root, no interfaces; live chains untouched)')
    .requiredOption('--packets <file>', 'PacketTest file or directory')
    .option('--json', 'machine-readable report on stdout')
    .option('--junit <file>', 'also write a JUnit XML report to FILE (for CI)')
    .action(run('test'));
  program
    .command('apply [path]')
    .description('make the kernel match the manifests (or apply a saved plan file)')
    .option('--auto-approve', 'do not ask for confirmation')
    .addOption(lockTimeout())
    .addOption(stackOption())
    .addOption(hostLabels())
    .addOption(hostLabelsFile())
    .action(run('apply'));
  program
    .command('show [planfile]')
    .description('what kfn runs now, per interface and hook; or a saved plan')
    .option('--json', 'machine-readable live state (or plan)')
    .option('--stats', 'include what each function counted')
    .action(run('show'));
  program
    .command('destroy [path]')
    .description("detach and unload the chains of the manifests' stack")
    .option('--all', 'every chain kfn manages on this host, of every stack, whatever the manifests say')
    .option('--auto-approve', 'do not ask for confirmation')
    .addOption(lockTimeout())
    .addOption(stackOption())
    .action(run('destroy'));
  program
    .command('export')
    .description("send IPFIX flow records (RFC 7011) from the flow tables of kfn's chains to a collector over UDP")
    .requiredOption('--collector <host:port>', 'where to send, e.g. 198.18.0.1:4739')
    .option('--netns <name>', 'network namespace to send from (where the collector is reachable)')
    .option('--interval <duration>', 'how often to read the flow tables', '10s')
    .option('--active-timeout <duration>', 'export a long-lived flow at least this often', '60s')
    .option('--idle-timeout <duration>', 'a flow idle this long has ended', '15s')
    .option('--domain <id>', 'IPFIX observation domain id', '1')
    .option('--chain <name...>', 'only these chains')
    .option('--once', 'read once, export every flow as it stands, and exit')
    .action(run('export'));
  program
    .command('drift')
    .description('compare the kernel with what kfn last applied (no manifests needed); exit 2 on drift')
    .option('--json', 'machine-readable report on stdout')
    .addOption(new Option('--stack <name>', 'only the chains of this stack'))
    .action(run('drift'));
  program
    .command('status')
    .description('per chain: stack, revision, apply time, drift; per stack: the reconcile agent’s last round')
    .option('--json', 'machine-readable status on stdout')
    .addOption(new Option('--stack <name>', 'only this stack'))
    .action(run('status'));
  program
    .command('reconcile')
    .description('pull a Git repository and keep the kernel matching it (the GitOps agent)')
    .requiredOption('--repo <url|path>', 'the Git repository')
    .requiredOption('--ref <branch|tag|sha>', 'what to follow')
    .option('--path <dir>', 'the manifests directory inside the repository', '.')
    .option('--interval <duration>', 'time between rounds', '1m')
    .option('--once', 'one round, then exit: 0 applied or in sync, 2 drift only reported, 1 the newest revision not applied')
    .addOption(new Option('--stack <name>', 'the stack (default: <repository name>/<path>)').env('KFN_STACK'))
    .option('--no-correct-drift', 'only report drift of the applied revision, never repair it')
    .option('--verify-signatures', 'apply only commits signed by a key of --allowed-signers')
    .option('--allowed-signers <file>', "git's allowed-signers file of the keys that may sign (ssh signatures)")
    .option('--webhook-addr <host:port>', 'accept push events here (GitHub and GitLab style)')
    .option('--webhook-secret-file <file>', 'the shared secret of the push events')
    .addOption(hostLabels())
    .addOption(hostLabelsFile())
    .addOption(new Option('--lock-timeout <duration>', 'wait this long for another apply to finish').default('60s'))
    .option('--cache-dir <dir>', 'where kfn keeps its clones (default: <state dir>/git)')
    .action(run('reconcile'));
  program
    .command('suspend')
    .description("stop a stack's reconcile agent from changing anything until resume")
    .addOption(new Option('--stack <name>', 'the stack (may be left out when one agent runs on this host)'))
    .option('--reason <text>', 'why, shown by kfn status')
    .action(run('suspend'));
  program
    .command('resume')
    .description("let a suspended stack's reconcile agent work again")
    .addOption(new Option('--stack <name>', 'the stack (may be left out when one agent runs on this host)'))
    .action(run('resume'));
  return { program, exitCode: () => exitCode };
}
