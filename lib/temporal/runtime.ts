import { IllegalStateError } from '@temporalio/common';
import { DefaultLogger, Runtime, type LogEntry } from '@temporalio/worker';
import type { Logger } from '../logger';
import { temporalMetricsTelemetry } from '../metrics/temporal-runtime';

/**
 * Route the Temporal SDK's own log lines (worker state, workflow task failures) into our pino
 * logger, at WARN and above: INFO from the SDK is bundler chatter. The Runtime is per process and
 * can be installed once; a second call (tests that installed their own) is a no-op. With
 * `metricsPort`, the SDK's runtime metrics are exported on 127.0.0.1:<port> (lib/metrics/temporal-runtime.ts).
 */
export function installTemporalRuntime(
  logger: Logger,
  level: 'WARN' | 'INFO' | 'ERROR' = 'WARN',
  options: { metricsPort?: number } = {},
): void {
  const forward = (entry: LogEntry) => {
    const meta = { temporal: pickIds(entry.meta) };
    if (entry.level === 'ERROR') logger.error(meta, entry.message);
    else if (entry.level === 'WARN') logger.warn(meta, entry.message);
    else logger.info(meta, entry.message);
  };
  try {
    Runtime.install({
      logger: new DefaultLogger(level, forward),
      ...(options.metricsPort !== undefined
        ? { telemetryOptions: { metrics: temporalMetricsTelemetry(options.metricsPort) } }
        : {}),
    });
  } catch (err) {
    // Already installed in this process: keep that one.
    if (err instanceof IllegalStateError) return;
    // Anything else (the metrics port taken) must stop the process: carrying on would leave the SDK
    // on its default Runtime, which logs to the console unfiltered.
    const port =
      options.metricsPort !== undefined
        ? ` (metrics exporter on 127.0.0.1:${options.metricsPort}, WORKER_TEMPORAL_METRICS_PORT)`
        : '';
    throw new Error(
      `the Temporal SDK runtime could not start${port}: ${err instanceof Error ? err.message : String(err)}`,
      {
        cause: err,
      },
    );
  }
}

/** Only identifiers from the SDK's metadata: it can carry error text quoting payload content. */
function pickIds(meta: LogEntry['meta']): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (meta === undefined) return out;
  for (const key of [
    'workflowId',
    'runId',
    'workflowType',
    'activityType',
    'activityId',
    'taskQueue',
    'namespace',
    'attempt',
    'sdkComponent',
    'state',
  ]) {
    if (key in meta) out[key] = (meta as Record<string, unknown>)[key];
  }
  return out;
}
