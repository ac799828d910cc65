/** Prometheus exposition parsed with a real parser (parse-prometheus-text-format), and read by name and labels. */
import parse, { type MetricFamily, type Sample } from 'parse-prometheus-text-format';

export type Exposition = MetricFamily[];

export function parseExposition(text: string): Exposition {
  return parse(text);
}

export function family(x: Exposition, name: string): MetricFamily {
  const f = x.find((m) => m.name === name);
  if (!f) throw new Error(`metric ${name} not in the exposition (have: ${x.map((m) => m.name).join(', ')})`);
  return f;
}

/** Samples of `name` whose labels include `labels`. */
export function samples(x: Exposition, name: string, labels: Record<string, string> = {}): Sample[] {
  return family(x, name).metrics.filter((s) => Object.entries(labels).every(([k, v]) => s.labels?.[k] === v));
}

/** The value of the one sample of `name` with `labels`; throws when there is none or several. */
export function value(x: Exposition, name: string, labels: Record<string, string> = {}): number {
  const s = samples(x, name, labels);
  if (s.length !== 1) throw new Error(`${s.length} samples of ${name} with ${JSON.stringify(labels)}: ${JSON.stringify(family(x, name).metrics)}`);
  return Number(s[0]!.value);
}

/**
 * One label set of a histogram. parse-prometheus-text-format reads unlabelled histograms
 * only (it merges the label sets of a labelled one and drops their counts and sums), so
 * the family's lines carrying `labels` are kept, those labels taken out, and parsed.
 */
export function histogram(text: string, name: string, labels: Record<string, string>): Sample {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const lines = text
    .split('\n')
    .filter((l) => (l.startsWith(`# TYPE ${name} `) || l.startsWith(`${name}_`)) && (l.startsWith('#') || wanted.every((w) => l.includes(w))))
    .map((l) => wanted.reduce((line, w) => line.replace(`,${w}`, '').replace(`${w},`, '').replace(w, ''), l).replace('{}', ''));
  const parsed = parse(lines.join('\n') + '\n');
  const f = parsed.find((m) => m.name === name);
  if (!f || f.metrics.length !== 1) throw new Error(`no single histogram ${name} ${JSON.stringify(labels)} in: ${lines.join(' | ')}`);
  return f.metrics[0]!;
}
