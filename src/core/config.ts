/**
 * Where kfn keeps its bookkeeping. Both roots are configurable so that tests (and a
 * second installation) never collide with a real one.
 */
import path from 'node:path';

export interface KfnPaths {
  /** bpffs directory owned by kfn: pinned links, chain maps, metadata. */
  pinRoot: string;
  /** Lock and journal directory (tmpfs: a reboot clears kernel state and journal together). */
  stateDir: string;
}

export function kfnPaths(env: NodeJS.ProcessEnv = process.env): KfnPaths {
  return {
    pinRoot: path.resolve(env.KFN_PIN_ROOT ?? '/sys/fs/bpf/kfn'),
    stateDir: path.resolve(env.KFN_STATE_DIR ?? '/run/kfn'),
  };
}
