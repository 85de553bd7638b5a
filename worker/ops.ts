import type { NativeConnection, Worker } from '@temporalio/worker';
import type { AppConfig } from '../lib/config';
import { parseApiTokens } from '../lib/config';
import type { Logger } from '../lib/logger';
import { startOpsServer, type OpsServer, type Readiness } from '../lib/metrics/ops-server';
import { registry } from '../lib/metrics/registry';
import { withTemporalRuntimeMetrics } from '../lib/metrics/temporal-runtime';

/**
 * The worker's own HTTP port (WORKER_HTTP_HOST:WORKER_HTTP_PORT) and its shutdown:
 *
 *  - `/livez`: the process answers and no worker has failed (a failed worker never recovers: restart).
 *  - `/readyz`: connected and polling: the Temporal connection answers, and every worker (the
 *    main one and each sender's SMS worker) is running its pollers. It turns 503 the moment a
 *    shutdown starts.
 *  - `/metrics`: labloop's series and the Temporal SDK's runtime metrics (proxied from its
 *    loopback exporter), with an operator token or on an internal interface.
 *
 * SIGTERM (and SIGINT): the Temporal Runtime stops every worker's polling (its shutdown signals);
 * in-flight activities get WORKER_SHUTDOWN_GRACE_SECONDS to finish, then they are cancelled; the
 * SDK gives up on them SHUTDOWN_FORCE_AFTER_GRACE_MS later (run() rejects); and the process exits
 * SHUTDOWN_EXIT_AFTER_FORCE_MS after that whatever still hangs, inside compose's stop_grace_period.
 */

/** After the grace time, the SDK waits this long for cancelled activities before it abandons them. */
export const SHUTDOWN_FORCE_AFTER_GRACE_MS = 5_000;
/** And the process waits this long after that for the connection and the pool to close. */
export const SHUTDOWN_EXIT_AFTER_FORCE_MS = 5_000;
/** A readiness probe must answer inside an orchestrator's probe timeout (compose: 5 s). */
const TEMPORAL_CHECK_TIMEOUT_MS = 2_000;

/** The Worker.create options that bound a graceful shutdown. */
export function shutdownTimes(config: Pick<AppConfig, 'WORKER_SHUTDOWN_GRACE_SECONDS'>) {
  const graceMs = config.WORKER_SHUTDOWN_GRACE_SECONDS * 1000;
  return { shutdownGraceTime: graceMs, shutdownForceTime: graceMs + SHUTDOWN_FORCE_AFTER_GRACE_MS };
}

export interface WorkerOps {
  url: string;
  /** Workers whose state readiness and liveness follow (call as each is created). */
  track(workers: Worker[]): void;
  /** Whether a shutdown signal arrived (or beginShutdown was called). */
  readonly shuttingDown: boolean;
  /** Turn readiness off before stopping the workers without a signal (the assembled stack's stop). */
  beginShutdown(): void;
  close(): Promise<void>;
}

export async function startWorkerOps(options: {
  config: Pick<
    AppConfig,
    | 'WORKER_HTTP_HOST'
    | 'WORKER_HTTP_PORT'
    | 'WORKER_TEMPORAL_METRICS_PORT'
    | 'WORKER_SHUTDOWN_GRACE_SECONDS'
    | 'LABLOOP_METRICS_TOKENS'
  >;
  connection: NativeConnection;
  logger: Logger;
  /** Where the Temporal SDK's runtime metrics are (default: the configured loopback exporter). */
  temporalMetricsUrl?: string;
  /**
   * Handle SIGTERM/SIGINT (production: readiness flips, and the process exits when a shutdown
   * overruns). The assembled stack in a test process passes false: a signal must still end that process.
   */
  handleSignals?: boolean;
}): Promise<WorkerOps> {
  const { config, connection, logger } = options;
  const workers: Worker[] = [];
  let shuttingDown = false;
  const sdkMetricsUrl = options.temporalMetricsUrl ?? `http://127.0.0.1:${config.WORKER_TEMPORAL_METRICS_PORT}/metrics`;

  const ready = async (): Promise<Readiness> => {
    const polling = workers.length > 0 && workers.every((w) => w.getState() === 'RUNNING');
    let temporal: 'ok' | 'down';
    try {
      await connection.withDeadline(Date.now() + TEMPORAL_CHECK_TIMEOUT_MS, () =>
        connection.workflowService.getSystemInfo({}),
      );
      temporal = 'ok';
    } catch {
      temporal = 'down';
    }
    const checks = { temporal, polling: polling ? 'ok' : 'down', shutdown: shuttingDown ? 'started' : 'no' };
    return { ready: !shuttingDown && polling && temporal === 'ok', checks };
  };

  const server: OpsServer = await startOpsServer({
    host: config.WORKER_HTTP_HOST,
    port: config.WORKER_HTTP_PORT,
    tokens: parseApiTokens(config.LABLOOP_METRICS_TOKENS ?? '', 'LABLOOP_METRICS_TOKENS'),
    contentType: registry.contentType,
    metrics: async () => withTemporalRuntimeMetrics(await registry.metrics(), sdkMetricsUrl),
    health: { live: () => workers.every((w) => w.getState() !== 'FAILED'), ready },
  });

  const onSignal = (signal: NodeJS.Signals) => {
    if (shuttingDown) return;
    shuttingDown = true;
    const { shutdownGraceTime, shutdownForceTime } = shutdownTimes(config);
    logger.info(
      { signal, graceMs: shutdownGraceTime },
      'shutdown requested: polling stops, in-flight activities drain',
    );
    // Unref'd: it never keeps a finished process alive, and still fires if something else does.
    setTimeout(() => {
      logger.error({ signal }, 'shutdown overran its deadline; exiting');
      process.exit(1);
    }, shutdownForceTime + SHUTDOWN_EXIT_AFTER_FORCE_MS).unref();
  };
  // Listening next to the Temporal Runtime's own handlers, which stop the workers.
  const signals = options.handleSignals === false ? [] : (['SIGTERM', 'SIGINT'] as const);
  for (const signal of signals) process.on(signal, onSignal);

  return {
    url: server.url,
    track(more) {
      workers.push(...more);
    },
    get shuttingDown() {
      return shuttingDown;
    },
    beginShutdown() {
      shuttingDown = true;
    },
    async close() {
      for (const signal of signals) process.off(signal, onSignal);
      await server.close();
    },
  };
}
