export { renderPlan, summaryLine, NO_CHANGES } from './plan-text.js';
export { renderPlanJson, planJson } from './plan-json.js';
export { renderLiveJson, liveJson } from './live-json.js';
export { renderValidateJson, validateJson } from './validate-json.js';
export { renderJson, JSON_FORMAT_VERSION } from './json.js';
export { renderLive, statTexts, NOTHING_MANAGED } from './live-text.js';
export type { RenderLiveOptions } from './live-text.js';
export { reasonText, reasonCode } from './reasons.js';
export { shortSha, whereText } from './format.js';
