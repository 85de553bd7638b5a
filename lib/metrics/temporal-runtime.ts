import type { TelemetryOptions } from '@temporalio/worker';

/**
 * The Temporal SDK's own metrics (worker slots, poll and task latencies, activity failures, sticky
 * cache): its core exports them through a Prometheus endpoint of its own, which has no
 * authentication. labloop binds it to loopback only (WORKER_TEMPORAL_METRICS_PORT) and the worker's
 * `/metrics` proxies it: one scrape, behind the same access rule, returns labloop's series and the
 * SDK's. `labloop_temporal_runtime_metrics_up` says whether the SDK's part could be read.
 */

/** The SDK's exporter: loopback only, counters ending in `_total` and durations in seconds (promtool's rules). */
export function temporalMetricsTelemetry(port: number): NonNullable<TelemetryOptions['metrics']> {
  return {
    prometheus: {
      bindAddress: `127.0.0.1:${port}`,
      countersTotalSuffix: true,
      useSecondsForDurations: true,
      unitSuffix: true,
    },
  };
}

/** The SDK endpoint answers at once or not at all; a scrape must not hang on it. */
const FETCH_TIMEOUT_MS = 2_000;

/**
 * labloop's exposition text with the SDK's appended (names never collide: the SDK's start with
 * `temporal_`), plus whether the SDK's endpoint answered.
 */
export async function withTemporalRuntimeMetrics(own: string, sdkMetricsUrl: string | undefined): Promise<string> {
  let sdk: string | undefined;
  if (sdkMetricsUrl !== undefined) {
    try {
      const response = await fetch(sdkMetricsUrl, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
      if (response.ok) sdk = await response.text();
    } catch {
      sdk = undefined;
    }
  }
  const up = [
    '# HELP labloop_temporal_runtime_metrics_up 1 when the Temporal SDK runtime metrics below could be read from its loopback exporter.',
    '# TYPE labloop_temporal_runtime_metrics_up gauge',
    `labloop_temporal_runtime_metrics_up ${sdk !== undefined ? 1 : 0}`,
    '',
  ].join('\n');
  const ownText = own.endsWith('\n') ? own : `${own}\n`;
  return `${ownText}${up}${sdk ?? ''}`;
}
