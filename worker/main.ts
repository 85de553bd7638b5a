/**
 * Production worker entry: validated configuration, the database made ready (lib/db/startup.ts:
 * migrate as the owner, or in production verify the schema and the runtime role's rights), one
 * native connection, the worker until SIGINT/SIGTERM, then a graceful drain (in-flight activities
 * finish or time out).
 */
import { createActivities } from '../activities';
import { loadConfig } from '../lib/config';
import { createPool } from '../lib/db/pool';
import { prepareDatabase } from '../lib/db/startup';
import { startAuditAnchoring } from '../lib/audit/anchor';
import { anchorPublisherFromConfig } from '../lib/audit/anchor-config';
import { createLogger } from '../lib/logger';
import { connectNative } from '../lib/temporal/connection';
import { installTemporalRuntime } from '../lib/temporal/runtime';
import { buildActivityDeps, smsSendForSender } from './build-activity-deps';
import { createLabloopWorker } from './create-worker';
import { parseTwilioSenders } from '../lib/sms/senders';
import { TASK_QUEUE } from '../workflows/definitions';
import { createSenderSmsWorkers } from './sms-worker';
import { shutdownTimes, startWorkerOps } from './ops';

async function run(): Promise<void> {
  const config = loadConfig(process.env, 'worker');
  const logger = createLogger(config.LOG_LEVEL, 'labloop-worker');
  installTemporalRuntime(logger, 'WARN', { metricsPort: config.WORKER_TEMPORAL_METRICS_PORT });
  if (config.DATABASE_URL === undefined) throw new Error('DATABASE_URL is required to run the worker on its own');
  logger.info({ database: await prepareDatabase(config) }, 'database ready');
  const pool = createPool(config.DATABASE_URL, { applicationName: 'labloop-worker' });
  const { connection, namespace } = await connectNative();
  // Every few seconds: seal stray audit rows, anchor the head, and publish signed anchors outside
  // the database (lib/audit/external-anchor.ts); production refuses to run without them.
  const signed = anchorPublisherFromConfig(config, pool);
  if (signed.publisher === undefined) {
    if (config.NODE_ENV === 'production')
      throw new Error(
        `refusing to start: signed audit anchors are not configured (${signed.missing}); see docs/security.md`,
      );
    logger.warn({ reason: signed.missing }, 'audit anchors are not signed or written outside the database');
  } else logger.info({ keyId: signed.keyId, store: signed.store }, 'publishing signed audit anchors');
  // /livez, /readyz, /metrics, and the SIGTERM deadline (worker/ops.ts).
  const ops = await startWorkerOps({ config, connection, logger });
  logger.info({ url: ops.url }, 'worker health and metrics listening');
  const anchoring = startAuditAnchoring({
    pool,
    intervalMs: config.AUDIT_ANCHOR_INTERVAL_MS,
    publisher: signed.publisher,
    onError: (err) => logger.warn({ err }, 'audit chain head not anchored; retrying at the next interval'),
  });
  try {
    const workflowBundle =
      config.LABLOOP_WORKFLOW_BUNDLE !== undefined ? { codePath: config.LABLOOP_WORKFLOW_BUNDLE } : undefined;
    const deps = buildActivityDeps(config, pool);
    const activities = createActivities(deps);
    const worker = await createLabloopWorker({
      connection,
      namespace,
      codecKeys: config.LABLOOP_CODEC_KEYS,
      activities,
      workflowBundle,
      shutdown: shutdownTimes(config),
    });
    // SMS sends on one task queue per sender, paced by the server at each sender's throughput.
    const senders = parseTwilioSenders(config);
    const smsWorkers = await createSenderSmsWorkers({
      connection,
      namespace,
      codecKeys: config.LABLOOP_CODEC_KEYS,
      senders,
      workflowTaskQueue: TASK_QUEUE,
      sendFor: smsSendForSender(config, deps),
      shutdown: shutdownTimes(config),
    });
    ops.track([worker, ...smsWorkers]);
    logger.info(
      { namespace, smsSenders: senders.map((s) => ({ id: s.id, segmentsPerSecond: s.segmentsPerSecond })) },
      'worker started',
    );
    // All run until SIGINT/SIGTERM (the SDK's shutdown signals stop them) or until one fails.
    await Promise.all([worker.run(), ...smsWorkers.map((w) => w.run())]);
    logger.info('workers drained and stopped');
  } finally {
    await anchoring.stop();
    await connection.close();
    await pool.end();
    await ops.close();
  }
}

run().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
