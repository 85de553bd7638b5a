import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { guardLabels, onLabelRejected, type Vocabulary } from './labels';

/**
 * The process's metric registry. Every labloop series is defined once (lib/metrics/series.ts) on
 * it; the API's `/metrics` and the worker's serve it. In production each process has its own; in
 * the sandbox (`npm start`, the end-to-end tests) API and worker share one process and so one
 * registry, and both endpoints show every series.
 */
export const registry = new Registry();
// Node's own process metrics (CPU, memory, event-loop lag, handles), under their standard names,
// less three gauges prom-client names like counters (`nodejs_active_handles_total` and its kin):
// Prometheus's checker refuses a non-counter ending in _total, and the same figures stay without it.
collectDefaultMetrics({ register: registry });
for (const misnamed of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'])
  registry.removeSingleMetric(misnamed);

/** Values a label was refused (replaced with `other`), by metric and label name; never the value. */
const labelRejections = new Counter({
  name: 'labloop_metric_label_rejections_total',
  help: 'Label values replaced with "other" because they were outside the label vocabulary (the PHI guard), by metric and label.',
  labelNames: ['metric', 'label'],
  registers: [registry],
});
onLabelRejected((metric, label) => labelRejections.inc({ metric, label }));

type Labels<L extends string> = Record<L, string | number | undefined>;

/** A counter whose every label value passes the PHI guard. */
export function guardedCounter<L extends string>(name: string, help: string, vocabularies: Record<L, Vocabulary>) {
  const counter = new Counter({ name, help, labelNames: Object.keys(vocabularies), registers: [registry] });
  return {
    name,
    inc(labels: Labels<L>, by = 1): void {
      counter.inc(guardLabels(name, vocabularies, labels), by);
    },
  };
}

/** A histogram (seconds) whose every label value passes the PHI guard. */
export function guardedHistogram<L extends string>(
  name: string,
  help: string,
  vocabularies: Record<L, Vocabulary>,
  buckets: number[],
) {
  const histogram = new Histogram({
    name,
    help,
    labelNames: Object.keys(vocabularies),
    buckets,
    registers: [registry],
  });
  return {
    name,
    /** Observe a duration; a negative or non-finite one (clock skew, a bad timestamp) is dropped. */
    observe(labels: Labels<L>, seconds: number): void {
      if (!Number.isFinite(seconds) || seconds < 0) return;
      histogram.observe(guardLabels(name, vocabularies, labels), seconds);
    },
  };
}

/** A gauge on a registry of its own choosing (scrape-time gauges live on their process's registry). */
export function guardedGauge<L extends string>(
  name: string,
  help: string,
  vocabularies: Record<L, Vocabulary>,
  registers: Registry[],
  /** Scrape-time values: `reset` clears every series, `add` adds to one (values guarded to `other` add up). */
  collect?: (add: (labels: Labels<L>, value: number) => void, reset: () => void) => Promise<void>,
) {
  const gauge: Gauge = new Gauge({
    name,
    help,
    labelNames: Object.keys(vocabularies),
    registers,
    ...(collect !== undefined
      ? {
          async collect() {
            await collect(
              (labels, value) => gauge.inc(guardLabels(name, vocabularies, labels), value),
              () => gauge.reset(),
            );
          },
        }
      : {}),
  });
  return {
    name,
    set(labels: Labels<L>, value: number): void {
      gauge.set(guardLabels(name, vocabularies, labels), value);
    },
  };
}

/** Seconds between two instants (ISO strings or Dates); NaN when either is missing or invalid. */
export function secondsBetween(from: string | Date | undefined | null, to: string | Date | undefined | null): number {
  if (from === undefined || from === null || to === undefined || to === null) return Number.NaN;
  const start = typeof from === 'string' ? Date.parse(from) : from.getTime();
  const end = typeof to === 'string' ? Date.parse(to) : to.getTime();
  return (end - start) / 1000;
}
