/**
 * Which host and which process wrote a file: saved plans record the host they were made
 * on (a plan from another machine, or from before a reboot, describes another kernel);
 * the lock and the journal record their writer as pid + start time, so that a reused pid
 * is never mistaken for a live writer.
 */
import fs from 'node:fs';
import os from 'node:os';
import type { HostId } from '../core/types.js';

export type { HostId };

function firstLine(file: string): string | null {
  try {
    const line = fs.readFileSync(file, 'utf8').split('\n')[0]!.trim();
    return line === '' ? null : line;
  } catch {
    return null;
  }
}

export function hostId(): HostId {
  return {
    machineId: firstLine('/etc/machine-id') ?? firstLine('/var/lib/dbus/machine-id'),
    bootId: firstLine('/proc/sys/kernel/random/boot_id'),
    hostname: os.hostname(),
  };
}

/** Why `made` is not this host (or this boot of it), or undefined when it is. */
export function hostMismatch(made: HostId, here: HostId = hostId()): string | undefined {
  if (made.machineId !== here.machineId || (made.machineId === null && made.hostname !== here.hostname)) {
    return `it was made on host ${made.hostname}${made.machineId ? ` (machine-id ${made.machineId.slice(0, 12)})` : ''}, this is ${here.hostname}${here.machineId ? ` (machine-id ${here.machineId.slice(0, 12)})` : ''}`;
  }
  if (made.bootId !== here.bootId) return `it was made on this host before a reboot (boot id ${String(made.bootId).slice(0, 8)}, now ${String(here.bootId).slice(0, 8)})`;
  return undefined;
}

export function isHostId(v: unknown): v is HostId {
  const h = v as HostId | null;
  const str = (x: unknown) => x === null || typeof x === 'string';
  return typeof h === 'object' && h !== null && str(h.machineId) && str(h.bootId) && typeof h.hostname === 'string';
}

/** A process, told apart from a later one that reuses its pid. */
export interface ProcessRef {
  pid: number;
  /** Field 22 of /proc/<pid>/stat: clock ticks after boot at which it started. */
  startTime: string | null;
  bootId: string | null;
}

export function processStartTime(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm (field 2) may hold spaces and parentheses: the fields after it follow the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[19] ?? null;
  } catch {
    return null;
  }
}

export function selfRef(): ProcessRef {
  return { pid: process.pid, startTime: processStartTime(process.pid), bootId: hostId().bootId };
}

/** The process still runs (same boot, same pid, same start time). Without a start time, a live pid counts. */
export function isRunning(ref: ProcessRef): boolean {
  if (ref.bootId !== null && ref.bootId !== hostId().bootId) return false;
  const now = processStartTime(ref.pid);
  if (now === null) return false;
  return ref.startTime === null || ref.startTime === now;
}

export function isProcessRef(v: unknown): v is ProcessRef {
  const r = v as ProcessRef | null;
  const str = (x: unknown) => x === null || typeof x === 'string';
  return typeof r === 'object' && r !== null && Number.isSafeInteger(r.pid) && r.pid > 0 && str(r.startTime) && str(r.bootId);
}
