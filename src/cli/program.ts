/**
 * The command tree: every command, argument and flag of kfn, and nothing else. The
 * actions only name the command; what runs is the caller's (the CLI loads the command's
 * module on demand, tests record what was parsed, completion walks the tree).
 */
import { Command, CommanderError, Option } from 'commander';
import { LOG_FORMATS, LOG_LEVELS, type LogFormat } from './logger.js';
import { SHELLS } from '../views/completion.js';
import { DEFAULT_STATS_LIMIT, DEFAULT_TOP_LIMIT, SORT_BYS, SortBy } from '../visibility/options.js';

export interface GlobalOptions {
  logLevel: string;
  logFormat: LogFormat;
  /** false with --no-color (which works like NO_COLOR). */
  color: boolean;
  /** --log-level was on the command line (else a command may pick its own default). */
  logLevelGiven?: boolean;
}

export type CommandName =
  | 'validate'
  | 'plan'
  | 'test'
  | 'apply'
  | 'show'
  | 'stats'
  | 'top'
  | 'destroy'
  | 'export'
  | 'import'
  | 'functions'
  | 'serve'
  | 'reconcile'
  | 'drift'
  | 'status'
  | 'suspend'
  | 'resume'
  | 'journal-show'
  | 'journal-clear'
  | 'version'
  | 'completion';

/** Configurations `kfn import` reads. */
export const IMPORT_FORMATS = ['l3af'] as const;

/** One parsed command line: the command, its positional arguments and its flags. */
export interface Invocation {
  name: CommandName;
  args: (string | undefined)[];
  flags: Record<string, unknown>;
  global: GlobalOptions;
}

export type Dispatch = (inv: Invocation) => Promise<number>;

/** commander's error code for `-V` / `--version`, which runs the version command. */
export const VERSION_REQUESTED = 'kfn.version';

const stackOption = (): Option => new Option('--stack <name>', 'the stack (default: derived from the manifests path; docs/gitops.md)').env('KFN_STACK');
const hostLabels = (): Option => new Option('--host-labels <k=v,...>', "this host's labels, for the chains' host selectors");
const hostLabelsFile = (): Option => new Option('--host-labels-file <file>', "this host's labels, one key=value per line");

export function buildProgram(dispatch: Dispatch): { program: Command; exitCode: () => number } {
  let exitCode = 0;
  const program = new Command('kfn')
    .description('Declarative, GitOps-driven eBPF kernel functions')
    .option('-V, --version', "kfn's version, libbpf's version and the kernel features kfn uses")
    .addOption(new Option('--log-level <level>', 'log level').choices(LOG_LEVELS).default('warn'))
    .addOption(new Option('--log-format <format>', 'log format on stderr').choices(LOG_FORMATS).default('pretty'))
    .option('--no-color', 'no colors (as with NO_COLOR=1)')
    .showHelpAfterError()
    .exitOverride();
  // Handled like commander's own --version (stops parsing), but the report is kfn's.
  program.on('option:version', () => {
    throw new CommanderError(0, VERSION_REQUESTED, '');
  });
  const act =
    (name: CommandName) =>
    async (...a: unknown[]): Promise<void> => {
      a.pop(); // the Command
      const flags = (a.pop() ?? {}) as Record<string, unknown>;
      const global = { ...program.opts<GlobalOptions>(), logLevelGiven: program.getOptionValueSource('logLevel') === 'cli' };
      exitCode = await dispatch({ name, args: a as (string | undefined)[], flags, global });
    };

  program
    .command('validate [path]')
    .description('check manifests, objects and typed values without touching the kernel')
    .option('--json', 'machine-readable result on stdout (errors included)')
    .action(act('validate'));
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
    .action(act('plan'));
  program
    .command('test [path]')
    .description('run packet cases through private shadows of the chains (needs root, no interfaces; live chains untouched)')
    .requiredOption('--packets <file>', 'PacketTest file or directory')
    .option('--json', 'machine-readable report on stdout')
    .option('--junit <file>', 'also write a JUnit XML report to FILE (for CI)')
    .action(act('test'));
  program
    .command('apply [path]')
    .description('make the kernel match the manifests (or apply a saved plan file)')
    .option('--auto-approve', 'do not ask for confirmation')
    .option('--lock-timeout <duration>', 'wait this long for another apply to finish (e.g. 30s)')
    .addOption(stackOption())
    .addOption(hostLabels())
    .addOption(hostLabelsFile())
    .action(act('apply'));
  program
    .command('show [planfile]')
    .description('what kfn runs now, per interface and hook; or a saved plan')
    .option('--json', 'machine-readable live state (or plan)')
    .option('--stats', 'include what each function counted')
    .option('--limit <n>', `entries shown per state map with --stats, busiest first (default ${DEFAULT_STATS_LIMIT})`)
    .option('--all', 'every entry of every state map with --stats')
    .action(act('show'));
  program
    .command('stats')
    .description("per chain and function: the packets, bytes, passed and dropped each function counted, summed over CPUs")
    .option('--json', 'machine-readable counters on stdout')
    .option('--chain <name...>', 'only these chains')
    .option('--interface <name...>', 'only the chains on these interfaces')
    .action(act('stats'));
  program
    .command('top')
    .description('a live table of the busiest flows and of each function\'s passed/dropped rates')
    .option('--interval <duration>', 'time between two readings of the counters', '1s')
    .option('--once', 'read twice, one interval apart, print the rates and exit')
    .option('--json', 'with --once: machine-readable rates on stdout')
    .addOption(new Option('--sort <by>', 'order the flows by').choices(SORT_BYS).default(SortBy.Packets))
    .option('--limit <n>', 'flows shown', String(DEFAULT_TOP_LIMIT))
    .option('--chain <name...>', 'only these chains')
    .option('--interface <name...>', 'only the chains on these interfaces')
    .action(act('top'));
  program
    .command('destroy [path]')
    .description("detach and unload the chains of the manifests' stack")
    .option('--all', 'every chain kfn manages on this host, of every stack, whatever the manifests say')
    .option('--auto-approve', 'do not ask for confirmation')
    .option('--lock-timeout <duration>', 'wait this long for another apply to finish (e.g. 30s)')
    .addOption(stackOption())
    .action(act('destroy'));
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
    .action(act('export'));
  program
    .command('import')
    .description("turn an l3afd configuration (the /l3af/configs/v1/update payload or l3af-config.json) into manifests")
    .addArgument(program.createArgument('<format>', 'the configuration\'s tool: l3af').choices(IMPORT_FORMATS))
    .argument('<payload>', 'the configuration file')
    .requiredOption('--objects <dir>', 'where the objects are (as l3afd extracts artifacts, or the artifact tarballs)')
    .requiredOption('-o, --out <dir>', 'new (or empty) directory to write the manifests, objects and report to')
    .option('--iface <old=new>', 'rename an interface (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--host <name>', 'the host to import when the configuration has several')
    .option('--netns <name>', "network namespace of the interfaces on this host (default: kfn's own)")
    .action(act('import'));
  program
    .command('functions [path]')
    .description("the built-in function library (and with PATH, the repository's own KernelFunctions too)")
    .option('--json', 'machine-readable list on stdout')
    .action(act('functions'));
  program
    .command('serve')
    .description('expose Prometheus metrics of what kfn runs on this host, read from the kernel at every scrape')
    .requiredOption('--metrics-addr <host:port>', 'listen address of /metrics, /healthz and /ready (e.g. 127.0.0.1:9477)')
    .action(act('serve'));
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
    .option('--metrics-addr <host:port>', 'also expose Prometheus metrics (of what kfn runs, and of the rounds) on /metrics, /healthz and /ready')
    .addOption(hostLabels())
    .addOption(hostLabelsFile())
    .addOption(new Option('--lock-timeout <duration>', 'wait this long for another apply to finish').default('60s'))
    .option('--cache-dir <dir>', 'where kfn keeps its clones (default: <state dir>/git)')
    .action(act('reconcile'));
  program
    .command('drift')
    .description('compare the kernel with what kfn last applied (no manifests needed); exit 2 on drift')
    .option('--json', 'machine-readable report on stdout')
    .option('--stack <name>', 'only the chains of this stack')
    .action(act('drift'));
  program
    .command('status')
    .description("per chain: stack, revision, apply time, drift; per stack: the reconcile agent's last round")
    .option('--json', 'machine-readable status on stdout')
    .option('--stack <name>', 'only this stack')
    .action(act('status'));
  program
    .command('suspend')
    .description("stop a stack's reconcile agent from changing anything until resume")
    .option('--stack <name>', 'the stack (may be left out when one agent runs on this host)')
    .option('--reason <text>', 'why, shown by kfn status')
    .action(act('suspend'));
  program
    .command('resume')
    .description("let a suspended stack's reconcile agent work again")
    .option('--stack <name>', 'the stack (may be left out when one agent runs on this host)')
    .action(act('resume'));
  const journal = program.command('journal').description('inspect or drop the journal of an interrupted apply (docs/errors.md, JOURNAL_INVALID)');
  journal
    .command('show')
    .description('the journal as recovery would judge it, and the journals kept for inspection (nothing is run)')
    .option('--json', 'machine-readable')
    .action(act('journal-show'));
  journal
    .command('clear')
    .description('remove the journal without running it, and the journals kept for inspection')
    .option('--force', 'also a journal that recovery would still run')
    .option('--lock-timeout <duration>', 'wait this long for another apply to finish (e.g. 30s)')
    .action(act('journal-clear'));
  program
    .command('version')
    .description("kfn's version, libbpf's version and the kernel features kfn uses")
    .option('--json', 'machine-readable report on stdout')
    .action(act('version'));
  program
    .command('completion')
    .description('a completion script for your shell, from this command tree')
    .addArgument(program.createArgument('<shell>', 'bash or zsh').choices(SHELLS))
    .action(act('completion'));
  return { program, exitCode: () => exitCode };
}

/**
 * Parses a kfn command line (without the leading `kfn`) exactly as the CLI does, without
 * running anything: the invocation, or the parse error commander reports.
 */
export async function parseCommandLine(args: readonly string[]): Promise<{ ok: true; invocation: Invocation } | { ok: false; error: string }> {
  const { normalizeArgs } = await import('./terraform-flags.js');
  let seen: Invocation | undefined;
  const { program } = buildProgram(async (inv) => {
    seen = inv;
    return 0;
  });
  let error = '';
  program.configureOutput({ writeOut: () => {}, writeErr: (t) => void (error += t), outputError: (t) => void (error += t) });
  for (const c of program.commands) c.configureOutput({ writeOut: () => {}, writeErr: (t) => void (error += t), outputError: (t) => void (error += t) }).exitOverride();
  try {
    await program.parseAsync(normalizeArgs(args), { from: 'user' });
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === VERSION_REQUESTED) return { ok: true, invocation: { name: 'version', args: [], flags: {}, global: program.opts<GlobalOptions>() } };
    return { ok: false, error: error.trim() || (e instanceof Error ? e.message : String(e)) };
  }
  return seen ? { ok: true, invocation: seen } : { ok: false, error: 'no command' };
}
