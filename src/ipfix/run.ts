/**
 * The IPFIX exporter: every interval, read the flow tables of kfn's live chains through
 * the engine, let the state machine decide what is due, and send it. Stops cleanly on
 * the abort signal, sending what is left (flowEndReason forcedEnd).
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { Engine } from '../engine/index.js';
import { flowsOf, type Flow } from '../flows/flows.js';
import { encodeMessages, type FlowRecord } from './encode.js';
import { FlowExporter, type Clocks } from './exporter.js';

export interface ExportOptions {
  send: (message: Buffer) => void;
  intervalMs: number;
  activeTimeoutMs: number;
  idleTimeoutMs: number;
  /** Observation domain id of the messages. */
  domain: number;
  /** Templates are re-sent every this many messages (RFC 7011 8.4: UDP needs refreshes). */
  templateRefresh?: number;
  /** Only chains of these names (all when empty). */
  chains?: string[];
  /** One read, every flow exported as it stands, then return. */
  once?: boolean;
  signal?: AbortSignal;
  onRecords?: (records: readonly FlowRecord[]) => void;
}

export function readFlows(engine: Engine, chains: readonly string[] = []): Flow[] {
  const live = engine.readLive();
  return live.chains
    .filter((c) => chains.length === 0 || chains.includes(c.chainName))
    .flatMap((c) => c.instances.flatMap((i) => flowsOf(engine.form.stats(i, Infinity))));
}

function clocks(): Clocks {
  return { monoNs: process.hrtime.bigint(), wallMs: BigInt(Date.now()) };
}

export async function runExporter(engine: Engine, o: ExportOptions): Promise<{ messages: number; records: number }> {
  const machine = new FlowExporter({ activeTimeoutMs: o.activeTimeoutMs, idleTimeoutMs: o.idleTimeoutMs });
  const refresh = o.templateRefresh ?? 20;
  let sequence = 0;
  let sent = 0;
  let records = 0;
  const emit = (rs: FlowRecord[], now: Clocks, force = false): void => {
    const withTemplates = sent === 0 || sent % refresh === 0 || force;
    if (rs.length === 0 && !withTemplates) return;
    const out = encodeMessages(rs, { exportTimeS: Number(now.wallMs / 1000n), sequence, domain: o.domain, withTemplates });
    for (const m of out.messages) o.send(m);
    sequence = out.sequence;
    sent += out.messages.length;
    records += rs.length;
    if (rs.length) o.onRecords?.(rs);
  };
  if (o.once) {
    const now = clocks();
    emit(machine.flush(readFlows(engine, o.chains), now), now, true);
    return { messages: sent, records };
  }
  while (!o.signal?.aborted) {
    const now = clocks();
    emit(machine.step(readFlows(engine, o.chains), now), now);
    try {
      await delay(o.intervalMs, undefined, o.signal ? { signal: o.signal } : {});
    } catch {
      break; // aborted
    }
  }
  const now = clocks();
  emit(machine.flush(readFlows(engine, o.chains), now), now, true);
  return { messages: sent, records };
}
