/** `kfn test`: packet cases through private shadows of the desired chains; exit 0 when every case passes. */
import writeFileAtomic from 'write-file-atomic';
import type { Context } from '../context.js';
import { manifestTarget } from '../context.js';
import { kernelEngine } from '../context.js';
import { KfnError } from '../../core/errors.js';
import { loadDesired, reportPassed } from '../../engine/index.js';
import { loadPacketTests } from '../../packets/index.js';
import { renderJunit, renderTestJson, renderTestReport } from '../../views/index.js';

export interface TestFlags {
  packets: string;
  json?: boolean;
  junit?: string;
}

export function testCommand(ctx: Context, target: string | undefined, flags: TestFlags): number {
  const desired = loadDesired(manifestTarget(target), { stack: false });
  const tests = loadPacketTests(flags.packets);
  const engine = kernelEngine(ctx, undefined, { pins: false });
  const report = engine.testPackets(desired, tests);
  if (flags.junit) writeJunit(flags.junit, renderJunit(report));
  process.stdout.write((flags.json ? renderTestJson(report) : renderTestReport(report, { color: ctx.color })) + '\n');
  return reportPassed(report) ? 0 : 1;
}

function writeJunit(file: string, xml: string): void {
  try {
    writeFileAtomic.sync(file, xml);
  } catch (e) {
    throw new KfnError('OUTPUT_WRITE', `cannot write ${file}: ${(e as Error).message}`, { hint: 'give --junit a path in a writable directory' });
  }
}
