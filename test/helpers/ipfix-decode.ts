/** IPFIX flows as tshark decodes them (its "cflow" dissector, UDP port 4739): the independent check of kfn's exporter. */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface DecodedFlow {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  protocol: number;
  packets: number;
  octets: number;
  endReason: number;
  startMs?: number;
  endMs?: number;
}

const probe = spawnSync('tshark', ['--version'], { stdio: 'ignore' });
export const NO_TSHARK: string | false = probe.error || probe.status !== 0 ? 'tshark is not installed (scripts/bootstrap.sh installs it)' : false;

/** Every flow record of every IPFIX message in a pcap, in order. */
export function decodeIpfixPcap(file: string): DecodedFlow[] {
  const r = spawnSync('tshark', ['-r', file, '-V', '-o', 'cflow.netflow.ports:4739'], { encoding: 'utf8', timeout: 60_000, maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new Error(`tshark -r ${file} failed: ${r.stderr}`);
  const flows: DecodedFlow[] = [];
  let cur: Partial<DecodedFlow> | undefined;
  const flush = () => {
    if (cur && cur.src !== undefined) flows.push(cur as DecodedFlow);
    cur = undefined;
  };
  for (const line of r.stdout.split('\n')) {
    const t = line.trim();
    if (/^Flow \d+$/.test(t)) {
      flush();
      cur = {};
      continue;
    }
    if (!cur) continue;
    let m: RegExpExecArray | null;
    if ((m = /^SrcAddr: (\S+)$/.exec(t))) cur.src = m[1]!;
    else if ((m = /^DstAddr: (\S+)$/.exec(t))) cur.dst = m[1]!;
    else if ((m = /^SrcPort: (\d+)$/.exec(t))) cur.sport = Number(m[1]);
    else if ((m = /^DstPort: (\d+)$/.exec(t))) cur.dport = Number(m[1]);
    else if ((m = /^Protocol: .*\((\d+)\)$/.exec(t))) cur.protocol = Number(m[1]);
    else if ((m = /^Packets: (\d+)$/.exec(t))) cur.packets = Number(m[1]);
    else if ((m = /^Octets: (\d+)$/.exec(t))) cur.octets = Number(m[1]);
    else if ((m = /^Flow End Reason: .*\((\d+)\)$/.exec(t))) cur.endReason = Number(m[1]);
    else if (/^(Set \d+|Cisco NetFlow\/IPFIX|Frame \d+:)/.test(t)) flush();
  }
  flush();
  return flows;
}

/**
 * The flows of IPFIX messages as tshark decodes them, sent as UDP datagrams to port 4739
 * in a pcap (text2pcap, part of Debian's tshark packages) written to a temporary directory
 * that is removed afterwards.
 */
export function decodeIpfixMessages(messages: readonly Uint8Array[]): DecodedFlow[] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kfn-ipfix-'));
  try {
    const hex = path.join(dir, 'messages.txt');
    fs.writeFileSync(hex, messages.map((m) => `0000 ${[...m].map((b) => b.toString(16).padStart(2, '0')).join(' ')}\n`).join(''));
    const pcap = path.join(dir, 'messages.pcap');
    const r = spawnSync('text2pcap', ['-q', '-4', '198.18.0.2,198.18.0.1', '-u', '40000,4739', hex, pcap], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`text2pcap failed: ${r.stderr}`);
    return decodeIpfixPcap(pcap);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
