import readline from 'node:readline/promises';
import { KfnError } from '../core/errors.js';

/** Terraform's habit: only the literal `yes` approves. Without a TTY, --auto-approve is required. */
export async function confirm(question: string, autoApprove: boolean): Promise<boolean> {
  if (autoApprove) return true;
  if (!process.stdin.isTTY) {
    throw new KfnError('APPROVAL_REQUIRED', 'refusing to change the kernel without approval: stdin is not a terminal', {
      hint: 'review `kfn plan`, then pass --auto-approve',
    });
  }
  const rl = readline.createInterface({ input: process.stdin, output: process.stdout });
  try {
    const answer = await rl.question(`${question}\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: `);
    return answer.trim() === 'yes';
  } finally {
    rl.close();
  }
}
