import type { Command, Option } from 'commander';
import { buildProgram } from '../program.js';
import { renderCompletion, type CompletionOption, type CompletionTree, type Shell } from '../../views/completion.js';

function option(o: Option): CompletionOption {
  const flags = [o.short, o.long].filter((f): f is string => typeof f === 'string');
  const takesValue = Boolean(o.required || o.optional);
  const out: CompletionOption = { flags, description: o.description, takesValue };
  const valueName = /[<[]([^>\]]+)[>\]]/.exec(o.flags)?.[1];
  if (valueName) out.valueName = valueName;
  if (o.argChoices) out.choices = o.argChoices;
  return out;
}

/** The real command tree as plain data (hidden commands and commander's `help` left out). */
export function completionTree(program: Command): CompletionTree {
  return {
    program: program.name(),
    options: [...program.options.map(option), { flags: ['-h', '--help'], description: 'display help', takesValue: false }],
    commands: program.commands.map((c) => ({
      name: c.name(),
      description: c.description(),
      options: c.options.map(option),
      args: c.registeredArguments.map((a) => ({ name: a.name(), required: a.required, ...(a.argChoices ? { choices: a.argChoices } : {}) })),
    })),
  };
}

export function completionCommand(shell: string): number {
  const { program } = buildProgram(async () => 0);
  process.stdout.write(renderCompletion(shell as Shell, completionTree(program)));
  return 0;
}
