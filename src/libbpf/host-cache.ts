/**
 * The host report of `kfn --version`, probed once per boot. Loading koffi and libbpf and
 * probing costs more than Node's whole start-up, yet none of it can change until the
 * machine reboots or libbpf is replaced: the report is kept in the state dir (tmpfs, so
 * a reboot clears it too) with what it depends on, and probed again when any of that
 * differs. The file is an input like any other: only a regular file of kfn's own user,
 * small, of the expected shape, is believed. This module must not load the FFI layer.
 */
import fs from 'node:fs';
import path from 'node:path';
import { FeatureState, KernelFeature, TRACEFS, tracefsMissing, type FeatureProbe, type HostReport } from './host-features.js';

const FILE = 'host-report.json';
const MAX_BYTES = 64 * 1024;

interface LibraryFile {
  path: string;
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
}

/** What the report depends on: a cached one is used only while all of it is the same. */
interface CacheKey {
  kfn: string;
  bootId: string;
  release: string;
  uid: number;
  libbpfOverride: string | null;
  library: LibraryFile;
}

interface CacheFile {
  key: CacheKey;
  report: HostReport;
}

function bootId(): string | undefined {
  try {
    return fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return undefined;
  }
}

function libraryFile(file: string): LibraryFile | undefined {
  try {
    const st = fs.statSync(file);
    return { path: file, dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs };
  } catch {
    return undefined;
  }
}

function keyFor(kfn: string, release: string, library: LibraryFile): CacheKey | undefined {
  const boot = bootId();
  if (boot === undefined) return undefined;
  return { kfn, bootId: boot, release, uid: process.getuid?.() ?? -1, libbpfOverride: process.env.KFN_LIBBPF_PATH ?? null, library };
}

const sameKey = (a: CacheKey, b: CacheKey): boolean => JSON.stringify(a) === JSON.stringify(b);

/** Whether tracefs is mounted can change without a reboot: it is looked at each time. */
function withLiveTracefs(report: HostReport): HostReport {
  const features = report.kernel.features.map((f): FeatureProbe => {
    if (f.feature !== KernelFeature.Tracepoints || f.state !== FeatureState.Yes || fs.existsSync(`${TRACEFS}/events`)) return f;
    return { ...f, state: FeatureState.No, detail: tracefsMissing() };
  });
  return { ...report, kernel: { ...report.kernel, features } };
}

function readCache(file: string): CacheFile | undefined {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
    const st = fs.fstatSync(fd);
    if (!st.isFile() || st.size > MAX_BYTES || st.uid !== (process.getuid?.() ?? -1) || (st.mode & 0o022) !== 0) return undefined;
    const doc = JSON.parse(fs.readFileSync(fd, 'utf8')) as Partial<CacheFile>;
    const r = doc.report;
    if (!doc.key || !r || r.libbpf?.ok !== true || typeof r.libbpf.version !== 'string' || !Array.isArray(r.kernel?.features)) return undefined;
    return doc as CacheFile;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Best effort: a state dir kfn cannot write only means the next run probes again. */
function writeCache(file: string, doc: CacheFile): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    fs.writeFileSync(tmp, JSON.stringify(doc), { mode: 0o644, flag: 'wx' });
    fs.renameSync(tmp, file);
  } catch {
    try {
      fs.rmSync(tmp, { force: true });
    } catch {
      // Nothing was written where nothing can be.
    }
  }
}

/**
 * The host report, from this boot's cache when nothing it depends on changed, else
 * probed (`probe`, which loads libbpf) and cached when libbpf loaded.
 */
export async function cachedHostReport(stateDir: string, kfn: string, release: string, probe: () => Promise<HostReport>): Promise<HostReport> {
  const file = path.join(stateDir, FILE);
  const cached = readCache(file);
  if (cached && cached.report.libbpf.ok) {
    const library = libraryFile(cached.report.libbpf.path);
    const key = library && keyFor(kfn, release, library);
    if (key && sameKey(key, cached.key)) return withLiveTracefs(cached.report);
  }
  const report = await probe();
  if (report.libbpf.ok) {
    const library = libraryFile(report.libbpf.path);
    const key = library && keyFor(kfn, release, library);
    if (key) writeCache(file, { key, report });
  }
  return report;
}
