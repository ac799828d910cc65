/** The engine library: everything a caller needs to plan and apply. */
export { Engine, planNetns, type ApplyOptions, type ApplyResult, type EngineOptions, type PlanOptions, type Transaction } from './engine.js';
export { ApplyFailedError, type FaultInjection } from './executor.js';
export { ApplyOutcome, type EngineEvent, type EventSink, type RecoveryReport } from './events.js';
export { requireKernelAccess, missingCapabilities, REQUIRED_CAPABILITIES } from './access.js';
export { loadDesired, listFunctionsHere, netnsOf, defaultStack, stackFor, repoName, checkStackName, gitRevision, type DesiredOptions } from './desired.js';
export { checkPlanOutput, savePlan, loadPlan, isPlanFile } from './plan-file.js';
export { reportPassed, type CaseResult, type PacketChange, type PacketPreview, type PacketTestReport, type ShadowedChain, type StepResult } from './packets.js';
export type { SampleOptions } from './sample.js';
