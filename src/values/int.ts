/** Integer inputs, ranges and byte order. x86_64 host order is little-endian. */

/**
 * A JS number that is a safe integer, a bigint, a decimal string ("-5", "42") or a
 * "0x" hex string ("0xff", "-0x10"). Anything else (floats, NaN, "1e3", " 1") is undefined.
 */
export function parseInteger(v: unknown): bigint | undefined {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') return Number.isSafeInteger(v) ? BigInt(v) : undefined;
  if (typeof v === 'string') {
    if (/^-?[0-9]+$/.test(v)) return BigInt(v);
    const m = /^(-?)0[xX]([0-9a-fA-F]+)$/.exec(v);
    if (m) {
      const x = BigInt(`0x${m[2]}`);
      return m[1] ? -x : x;
    }
  }
  return undefined;
}

export function intRange(size: number, signed: boolean): [bigint, bigint] {
  const bits = BigInt(size * 8);
  return signed ? [-(1n << (bits - 1n)), (1n << (bits - 1n)) - 1n] : [0n, (1n << bits) - 1n];
}

export function writeInt(buf: Uint8Array, off: number, size: number, v: bigint, be: boolean): void {
  let x = BigInt.asUintN(size * 8, v);
  for (let i = 0; i < size; i++) {
    buf[off + (be ? size - 1 - i : i)] = Number(x & 0xffn);
    x >>= 8n;
  }
}

export function readInt(buf: Uint8Array, off: number, size: number, signed: boolean, be: boolean): bigint {
  let x = 0n;
  for (let i = size - 1; i >= 0; i--) x = (x << 8n) | BigInt(buf[off + (be ? size - 1 - i : i)]!);
  return signed ? BigInt.asIntN(size * 8, x) : x;
}

/** Canonical decoded integer: a JS number when safe, else its decimal string. */
export function canonicalInt(x: bigint): number | string {
  return x >= BigInt(Number.MIN_SAFE_INTEGER) && x <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(x) : x.toString();
}

export function toHex(b: Uint8Array): string {
  // A view, not a copy: every key and value of a map passes through here.
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** "0x" + exactly 2*size hex digits -> bytes. */
export function parseHexBytes(v: unknown, size: number): Uint8Array | undefined {
  if (typeof v !== 'string' || !/^0[xX]/.test(v) || v.length !== 2 + 2 * size) return undefined;
  if (!/^[0-9a-fA-F]*$/.test(v.slice(2))) return undefined;
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = parseInt(v.slice(2 + 2 * i, 4 + 2 * i), 16);
  return out;
}
