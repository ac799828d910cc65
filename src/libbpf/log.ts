/**
 * libbpf prints through a callback and, by default, to stderr. kfn installs its own
 * callback, as soon as libbpf is loaded, so every libbpf message goes to kfn's logger.
 */
import { koffi, libcFns, onLibbpfLoaded, PrintFn, type Libbpf } from './ffi.js';

export type LibbpfLevel = 'warn' | 'info' | 'debug';
export type LibbpfSink = (level: LibbpfLevel, message: string) => void;

const LEVELS: LibbpfLevel[] = ['warn', 'info', 'debug'];
let sink: LibbpfSink = () => {};
/** Messages of other levels are dropped unformatted: libbpf prints dozens per object load. */
let wanted: (level: LibbpfLevel) => boolean = () => false;

/** Where libbpf's messages go from now on; setting it does not load libbpf. */
export function setLibbpfSink(fn: LibbpfSink, wants: (level: LibbpfLevel) => boolean = () => true): void {
  sink = fn;
  wanted = wants;
}

function installPrint(b: Libbpf): void {
  const buf = Buffer.alloc(8192);
  const cb = koffi.register((level: number, fmt: string, args: unknown) => {
    const name = LEVELS[level] ?? 'debug';
    if (!wanted(name)) return 0;
    const n = libcFns.vsnprintf(buf, buf.length, fmt, args) as number;
    const text = buf.subarray(0, Math.max(0, Math.min(n, buf.length - 1))).toString('utf8').replace(/\n$/, '');
    sink(name, text);
    return 0;
  }, koffi.pointer(PrintFn));
  b.set_print(cb);
}

onLibbpfLoaded(installPrint);
