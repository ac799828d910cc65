/** Bounded polling for what the kernel does asynchronously (freeing objects, delivering tracepoint events). */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';

/** Polls `cond` every 50 ms, at most `tries` times; fails the test naming `what`. */
export async function eventually(what: string, cond: () => boolean, tries = 100): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (cond()) return;
    await sleep(50);
  }
  assert.fail(`${what}: still not true after ${tries} tries`);
}
