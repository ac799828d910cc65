/**
 * eBPF object files as kfn reads them: regular files of bounded size, and, for one apply,
 * each read once so that every load of a file is made from the bytes whose sha256 was
 * checked against the plan.
 */
import { KfnError } from './errors.js';
import { sha256Hex } from './digest.js';
import { InputFileError, readRegularFile } from './files.js';

/** kfn's own objects are tens of KB; this bounds a read without refusing any real object. */
const MAX_OBJECT_BYTES = 64 << 20;

const OBJECT_HINT = 'spec.object must be an ELF eBPF object built with clang -target bpf -g';

/** The bytes of an object file: OBJECT_NOT_FOUND when there is none, OBJECT_INVALID when it cannot be one. */
export function readObjectFile(file: string): Buffer {
  try {
    return readRegularFile(file, { maxBytes: MAX_OBJECT_BYTES });
  } catch (e) {
    if (!(e instanceof InputFileError)) throw e;
    if (e.problem === 'missing') throw new KfnError('OBJECT_NOT_FOUND', `object file ${file} does not exist`, { hint: 'build it (npm run build:bpf) or fix spec.object' });
    throw new KfnError('OBJECT_INVALID', `object file ${e.message}`, { hint: OBJECT_HINT });
  }
}

/**
 * The object files one apply loads, each read once: a hundred loads of one object read
 * and hash it once, and the file cannot change between the check of its sha256 and a
 * load. Made for one apply and dropped with it.
 */
export class ObjectFiles {
  private readonly files = new Map<string, { bytes: Buffer; sha256: string }>();

  /** `file`'s bytes as this apply first read them, and their sha256. */
  read(file: string): { bytes: Buffer; sha256: string } {
    let f = this.files.get(file);
    if (!f) {
      const bytes = readObjectFile(file);
      f = { bytes, sha256: sha256Hex(bytes) };
      this.files.set(file, f);
    }
    return f;
  }
}
