export { plan, hasChanges, ownedBy, summarize, selectsHost } from './plan.js';
export type { PlanOptions } from './plan.js';
export { liveFingerprint } from './fingerprint.js';
export { compareAttachments, expandChains, globToRegExp, isGlob } from './expand.js';
export { detectDrift, type ChainDrift, type DriftReport } from './drift.js';
export { diffEntries, identityChanges, isDefaultProceedOn, mapChanges, movedNames, proceedOnChange, proceedOnOf, stateReset } from './diff.js';
export { planProbes, targetText } from './probes.js';
