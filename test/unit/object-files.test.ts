/**
 * Object files as one apply reads them: each once, refused when missing or not a regular
 * file, with the sha256 of exactly the bytes returned.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ObjectFiles, readObjectFile } from '../../src/core/objects.js';
import { sha256Hex } from '../../src/core/digest.js';
import { KfnError } from '../../src/core/errors.js';

describe('object files', () => {
  let dir = '';
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kfn-object-files-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const refused = (code: string, re: RegExp) => (e: unknown) => e instanceof KfnError && e.code === code && re.test(e.message);

  test('a file is read once per apply: a rewrite after the first read is not seen, and the sha256 is of the bytes returned', () => {
    const file = path.join(dir, 'fn.bpf.o');
    fs.writeFileSync(file, 'first');
    const objects = new ObjectFiles();
    const a = objects.read(file);
    fs.writeFileSync(file, 'second');
    const b = objects.read(file);
    assert.equal(b.bytes.toString(), 'first');
    assert.equal(b.sha256, sha256Hex(Buffer.from('first')));
    assert.equal(a, b);
    assert.equal(new ObjectFiles().read(file).bytes.toString(), 'second', 'the next apply reads the file again');
  });

  test('a missing object is OBJECT_NOT_FOUND; a directory or a FIFO is OBJECT_INVALID, read without blocking', () => {
    assert.throws(() => readObjectFile(path.join(dir, 'missing.bpf.o')), refused('OBJECT_NOT_FOUND', /missing\.bpf\.o does not exist/));
    assert.throws(() => readObjectFile(dir), refused('OBJECT_INVALID', /is a directory, not a regular file/));
    const fifo = path.join(dir, 'fifo.bpf.o');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
    assert.throws(() => new ObjectFiles().read(fifo), refused('OBJECT_INVALID', /is a FIFO, not a regular file/));
  });
});
