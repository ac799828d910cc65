export { renderPlan, summaryLine, NO_CHANGES } from './plan-text.js';
export { renderPlanJson, renderJson } from './json.js';
export { renderLive, NOTHING_MANAGED } from './live-text.js';
export type { RenderLiveOptions } from './live-text.js';
export { shortSha, whereText } from './format.js';
