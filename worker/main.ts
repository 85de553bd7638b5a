/**
 * Production worker entry: validated configuration, migrations, one native connection, the worker
 * until SIGINT/SIGTERM, then a graceful drain (in-flight activities finish or time out).
 */
import { createActivities } from '../activities';
import { loadConfig } from '../lib/config';
import { createPool } from '../lib/db/pool';
import { migrateUp } from '../lib/db/migrate';
import { createLogger } from '../lib/logger';
import { connectNative } from '../lib/temporal/connection';
import { installTemporalRuntime } from '../lib/temporal/runtime';
import { buildActivityDeps } from './build-activity-deps';
import { createLabloopWorker } from './create-worker';
import { createSmsWorker } from './sms-worker';

async function run(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.LOG_LEVEL, 'labloop-worker');
  installTemporalRuntime(logger);
  if (config.DATABASE_URL === undefined) throw new Error('DATABASE_URL is required to run the worker on its own');
  await migrateUp(config.DATABASE_MIGRATION_URL ?? config.DATABASE_URL);
  const pool = createPool(config.DATABASE_URL, { applicationName: 'labloop-worker' });
  const { connection, namespace } = await connectNative();
  try {
    const workflowBundle =
      process.env.LABLOOP_WORKFLOW_BUNDLE !== undefined ? { codePath: process.env.LABLOOP_WORKFLOW_BUNDLE } : undefined;
    const activities = createActivities(buildActivityDeps(config, pool));
    const worker = await createLabloopWorker({
      connection,
      namespace,
      codecKeys: config.LABLOOP_CODEC_KEYS,
      activities,
      workflowBundle,
    });
    // SMS sends on their own task queue, paced by the server at the sender's throughput.
    const smsWorker = await createSmsWorker({
      connection,
      namespace,
      codecKeys: config.LABLOOP_CODEC_KEYS,
      sendGenericSms: (request) => activities.sendGenericSms(request),
      segmentsPerSecond: config.TWILIO_SENDER_SEGMENTS_PER_SECOND,
    });
    logger.info({ namespace, smsSegmentsPerSecond: config.TWILIO_SENDER_SEGMENTS_PER_SECOND }, 'worker started');
    // Both run until SIGINT/SIGTERM (the SDK's shutdown signals stop both) or until either fails.
    await Promise.all([worker.run(), smsWorker.run()]);
  } finally {
    await connection.close();
    await pool.end();
  }
}

run().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
