/**
 * One rtnetlink dump (dumpLinksHere) tells every interface of a namespace and its XDP
 * program exactly as iproute2 reads them: in a namespace of this test's own with ifb
 * interfaces, a root program attached generic to some of them through BPF links, the
 * dump and `ip -j -d link show` agree on names, ifindexes, XDP modes and program ids.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { kernelGate } from '../helpers/kernel-gate.js';
import { BPF_BUILD } from '../helpers/paths.js';
import { sandboxPrefix } from '../helpers/sandbox.js';
import { BpfObject, attachXdpLink, closeFd, dumpLinksHere, ifindexHere, progInfoByFd, withNetns } from '../../src/libbpf/index.js';

const skip = kernelGate({ objects: ['root.bpf.o'], cli: false });

const NS = `${sandboxPrefix('n')}-ns`;
const IFS = Array.from({ length: 12 }, (_, i) => `${sandboxPrefix('n')}-${i}`);

function ip(args: string[], input?: string): string {
  const r = spawnSync('ip', args, { encoding: 'utf8', input: input ?? '', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

interface IpLink {
  ifindex: number;
  ifname: string;
  xdp?: { mode: number; prog?: { id: number } };
}

describe('rtnetlink interface dump', { skip }, () => {
  const links: number[] = [];
  let obj: BpfObject | undefined;
  let progId = 0;

  before(() => {
    spawnSync('ip', ['netns', 'del', NS], { stdio: 'ignore' });
    ip(['netns', 'add', NS]);
    ip(['-n', NS, '-batch', '-'], IFS.map((n) => `link add ${n} type ifb`).join('\n') + '\n');
    obj = BpfObject.open(path.join(BPF_BUILD, 'root.bpf.o'));
    const progFd = obj.load('kfn_root_xdp').progFd;
    progId = progInfoByFd(progFd).id;
    withNetns(NS, () => {
      for (const name of IFS.filter((_, i) => i % 3 === 0)) links.push(attachXdpLink(progFd, ifindexHere(name)!, 'generic', name));
    });
  });

  after(() => {
    for (const fd of links) closeFd(fd);
    obj?.close();
    spawnSync('ip', ['netns', 'del', NS], { stdio: 'ignore' });
  });

  test('names, ifindexes, XDP modes and program ids equal iproute2 reading', () => {
    const dump = withNetns(NS, dumpLinksHere);
    const ipLinks = JSON.parse(ip(['-j', '-d', '-n', NS, 'link', 'show'])) as IpLink[];
    assert.equal(dump.length, IFS.length + 1, 'lo and every ifb');
    assert.deepEqual(
      dump.map((l) => [l.ifindex, l.ifname]),
      ipLinks.map((l) => [l.ifindex, l.ifname]).sort((a, b) => (a[0] as number) - (b[0] as number)),
    );
    const byName = new Map(ipLinks.map((l) => [l.ifname, l]));
    for (const l of dump) {
      const want = byName.get(l.ifname)!;
      const attached = IFS.indexOf(l.ifname) >= 0 && IFS.indexOf(l.ifname) % 3 === 0;
      assert.equal(l.xdp.progId, attached ? progId : 0, l.ifname);
      assert.equal(l.xdp.mode, attached ? 'generic' : 'none', l.ifname);
      assert.equal(want.xdp?.prog?.id ?? 0, l.xdp.progId, `${l.ifname}: iproute2 sees the same program`);
    }
  });

  test('the dump is of the calling thread\'s namespace', () => {
    const here = dumpLinksHere().map((l) => l.ifname);
    for (const name of IFS) assert.ok(!here.includes(name), `${name} is not in the default netns`);
  });
});
