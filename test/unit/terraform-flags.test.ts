/**
 * normalizeArgs: Terraform's single-dash spellings become kfn's long options, short
 * flags stand alone, and every other single-dash word is a USAGE error with a hint,
 * never a bundle of short flags. parseDuration: `ms` units and bare seconds.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { normalizeArgs } from '../../src/cli/terraform-flags.js';
import { parseDuration } from '../../src/cli/context.js';
import { KfnError } from '../../src/core/errors.js';

function refused(args: string[]): KfnError {
  try {
    normalizeArgs(args);
  } catch (e) {
    assert.ok(e instanceof KfnError, String(e));
    return e;
  }
  assert.fail(`${JSON.stringify(args)} was accepted`);
}

describe('normalizeArgs', () => {
  test("Terraform's spellings map to the long options, values kept verbatim", () => {
    assert.deepEqual(normalizeArgs(['plan', 'm', '-out=plan.out']), ['plan', 'm', '--out=plan.out']);
    assert.deepEqual(normalizeArgs(['plan', '-out', 'plan.out']), ['plan', '--out', 'plan.out']);
    assert.deepEqual(normalizeArgs(['plan', '-out=a=b c']), ['plan', '--out=a=b c']);
    assert.deepEqual(normalizeArgs(['plan', '-out=']), ['plan', '--out=']);
    assert.deepEqual(normalizeArgs(['plan', '-json', '-detailed-exitcode']), ['plan', '--json', '--detailed-exitcode']);
    assert.deepEqual(normalizeArgs(['apply', '-auto-approve', '-lock-timeout=1h']), ['apply', '--auto-approve', '--lock-timeout=1h']);
    assert.deepEqual(normalizeArgs(['-log-level', 'info', '-log-format=json', 'show', '-stats']), ['--log-level', 'info', '--log-format=json', 'show', '--stats']);
    assert.deepEqual(normalizeArgs(['destroy', '-all', '-version', '-help']), ['destroy', '--all', '--version', '--help']);
  });

  test('long options, short flags, positionals and everything after -- pass unchanged', () => {
    const same = [
      ['plan', '--out=x', '--json'],
      ['plan', '-o', 'x'],
      ['-h'],
      ['-V'],
      ['apply', 'manifests/', 'plan.out', '-'],
      ['plan', '--', '-out=x', '-foo', '-o'],
    ];
    for (const args of same) assert.deepEqual(normalizeArgs(args), args);
  });

  test('unknown single-dash words are USAGE errors with a hint, never misparsed', () => {
    const cases: [string, RegExp, RegExp][] = [
      ['-foo', /^unknown option "-foo"$/, /^kfn takes -out=FILE, -json, -detailed-exitcode, -auto-approve, -lock-timeout=DURATION as Terraform does; other options take two dashes/],
      ['-outt=x', /^unknown option "-outt"$/, /^did you mean -out\? /],
      ['-jsn', /^unknown option "-jsn"$/, /^did you mean -json\? /],
      ['-auto-aprove', /^unknown option "-auto-aprove"$/, /^did you mean -auto-approve\? /],
      // commander would read these as `-o utfile` and `-o =x`
      ['-outfile', /^unknown option "-outfile"$/, /\S/],
      ['-o=x', /^unknown option "-o"$/, /^write -o FILE \(the value in the next word\) or -out=FILE$/],
      ['-ofile.out', /^unknown option "-ofile.out"$/, /^write -o FILE/],
      ['-hV', /^unknown option "-hV"$/, /\S/],
      ['-5', /^unknown option "-5"$/, /\S/],
    ];
    for (const [arg, message, hint] of cases) {
      const e = refused(['plan', 'm', arg]);
      assert.equal(e.code, 'USAGE', arg);
      assert.match(e.message, message, arg);
      assert.ok(!e.message.includes('\n'), `${arg}: one line`);
      assert.match(e.hint ?? '', hint, arg);
    }
  });

  test('property: the output is the input with single-dash long words given a second dash, or a USAGE error', () => {
    const word = fc.oneof(
      fc.constantFrom('-out', '-json', '-o', '-h', '--', '--json', 'plan', '-x', '-out=f', '-', '---', '-o=x'),
      fc.string({ maxLength: 8 }),
      fc.string({ maxLength: 8 }).map((s) => `-${s}`),
    );
    fc.assert(
      fc.property(fc.array(word, { maxLength: 8 }), (args) => {
        let out: string[];
        try {
          out = normalizeArgs(args);
        } catch (e) {
          return e instanceof KfnError && e.code === 'USAGE' && typeof e.hint === 'string';
        }
        if (out.length !== args.length) return false;
        const cut = args.indexOf('--');
        return args.every((a, i) => out[i] === a || (out[i] === `-${a}` && (cut < 0 || i < cut) && /^-[A-Za-z]/.test(a) && a.length > 2));
      }),
    );
  });
});

describe('parseDuration (--lock-timeout)', () => {
  test('units of ms, and bare seconds', () => {
    assert.equal(parseDuration('1h'), 3_600_000);
    assert.equal(parseDuration('30s'), 30_000);
    assert.equal(parseDuration('2m'), 120_000);
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('0'), 0);
    assert.equal(parseDuration('1.5'), 1500);
    assert.equal(parseDuration(' 10s '), 10_000);
  });

  test('anything else is a USAGE error naming the value', () => {
    for (const bad of ['soon', '', '-1s', '1 fortnight', 'NaN', 'Infinity']) {
      assert.throws(
        () => parseDuration(bad),
        (e: unknown) => e instanceof KfnError && e.code === 'USAGE' && e.message === `invalid duration "${bad}" (examples: 500ms, 30s, 2m, 1h)` && e.hint !== undefined,
        JSON.stringify(bad),
      );
    }
  });
});
