/** The typed libbpf layer: everything above it goes through these exports. */
export * from './errors.js';
export * from './fd.js';
export * from './info.js';
export * from './map.js';
export * from './pin.js';
export * from './link.js';
export * from './netns.js';
export * from './object.js';
export * from './btf.js';
export { setLibbpfSink, type LibbpfLevel } from './log.js';
export { createArrayMap } from './create.js';
export * from './testrun.js';
export { isRoot, tryLockExclusive } from './process.js';
export type * from './btf-types.js';
export { btfResolve, btfSizeOf } from './btf-types.js';
export type * from './object-info.js';
export { mapLayoutDigest, PARAMETER_TAG } from './object-info.js';
export { BPF_ANY, BPF_EXIST, BPF_NOEXIST, LINK_TYPE, MAP_TYPE } from './constants.js';
