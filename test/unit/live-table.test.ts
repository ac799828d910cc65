/**
 * `kfn show` text: each chain's instances as a cli-table3 table (number, name,
 * function@version, prog id, sha256), each row followed by that instance's details;
 * escape codes only with color on, whatever the environment says.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { renderLive } from '../../src/views/index.js';
import { tableLines } from '../../src/views/table.js';
import { FN, at, lChain, lInst, liveState } from './plan-fixtures.js';

const strip = (s: string): string => s.replace(/\x1b\[[0-9;]*m/g, '');

describe('tableLines', () => {
  test('columns padded to the widest cell, right alignment, no trailing blanks, colored cells line up', () => {
    const rows = [
      ['1', 'a', '7'],
      ['10', 'longer', '1234'],
    ];
    const plain = tableLines(['#', 'name', 'n'], rows, { align: ['right', 'left', 'right'], indent: '> ' });
    assert.deepEqual(plain, ['>  #  name       n', '>  1  a          7', '> 10  longer  1234']);
    const painted = tableLines(['#', 'name', 'n'], rows.map(([a, b, c]) => [a!, `\x1b[1m${b}\x1b[22m`, c!]), { align: ['right', 'left', 'right'], indent: '> ' });
    assert.deepEqual(painted.map(strip), plain);
  });
});

describe('renderLive: the instance table', () => {
  const many = Array.from({ length: 11 }, (_, n) => lInst(`fn${n + 1}`, FN.blocklist, 200 + n, n === 10 ? { blocked_v4: { '198.18.0.9/32': '1' } } : {}));

  test('ten or more instances: the number column widens, details stay under the name column', () => {
    const out = renderLive(liveState({ chains: [lChain('big', at('eth0'), many)] }), { color: false }).split('\n');
    assert.equal(out[2], '   #  name  function         prog  sha256');
    assert.match(out[3]!, /^ {3}1 {2}fn1 {3}blocklist@1\.2\.0 {3}200 {2}[0-9a-f]{12}$/);
    assert.match(out[13]!, /^ {2}11 {2}fn11 {2}blocklist@1\.2\.0 {3}210 {2}[0-9a-f]{12}$/);
    assert.equal(out[14], '      blocked_v4["198.18.0.9/32"] = 1');
    assert.equal(out.length, 15);
  });

  test('a chain holding only orphans: the note, then the head and the orphan rows', () => {
    const out = renderLive(liveState({ chains: [lChain('gone', at('eth0'), [], { orphans: [lInst('old', FN.flowstats, 19)] })] }), { color: false }).split('\n');
    assert.deepEqual(out.slice(2), [
      '  (no functions: packets pass straight through)',
      '  #  name  function         prog  sha256',
      '  orphans (pinned by kfn, not reachable from the root; the next apply deletes them):',
      `  ?  old   flowstats@1.0.0    19  ${FN.flowstats.sha256.slice(0, 12)}`,
    ]);
  });

  test('no escape codes without color, even when the environment forces color; with color the same text once stripped', () => {
    const saved = process.env.FORCE_COLOR;
    process.env.FORCE_COLOR = '3';
    try {
      const l = liveState({ chains: [lChain('big', at('eth0'), many, { orphans: [lInst('old', FN.flowstats, 19)], drift: ['root link is missing'] })] });
      const plain = renderLive(l, { color: false });
      assert.ok(!plain.includes('\x1b'), plain);
      const colored = renderLive(l, { color: true });
      assert.ok(colored.includes('\x1b['));
      assert.equal(strip(colored), plain);
    } finally {
      if (saved === undefined) delete process.env.FORCE_COLOR;
      else process.env.FORCE_COLOR = saved;
    }
  });
});
