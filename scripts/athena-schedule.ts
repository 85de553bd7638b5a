/**
 * `node dist/scripts/athena-schedule.js [--task-queue Q]` (the compose job `athena-schedule`; from
 * sources `npm run athena:schedule`)
 *
 * Production set-up of the athena changed-data poller, safe to run on every deployment: for each
 * practice to poll (ATHENA_POLL_PRACTICES, default every practice with an athenaPracticeId) it
 * subscribes the practice's lab-result feed in athena if needed and creates or updates the Temporal
 * Schedule that runs the poll workflow every ATHENA_POLL_INTERVAL_SECONDS. Reads the same
 * configuration as the API and worker (TEMPORAL_* for the connection).
 * Exit 0: done (one line per practice). Exit 1: failed, with the reason.
 */
import { parseArgs } from 'node:util';
import { ensureAthenaFeeds } from '../lib/athena-feed';
import { createAthenaClient } from '../lib/clients/athena';
import { athenaPollPractices, loadConfig } from '../lib/config';
import { loadPracticeRegistry } from '../lib/practices';
import { connectClient } from '../lib/temporal/connection';
import { TASK_QUEUE } from '../workflows/definitions';

async function run(): Promise<void> {
  const { values } = parseArgs({ options: { 'task-queue': { type: 'string' } }, strict: true });
  const config = loadConfig(process.env, 'athena-schedule');
  const practices = loadPracticeRegistry(config.LABLOOP_PRACTICES_FILE);
  const athena = createAthenaClient({
    baseUrl: config.ATHENA_BASE_URL,
    clientId: config.ATHENA_CLIENT_ID,
    clientSecret: config.ATHENA_CLIENT_SECRET,
  });
  const temporal = await connectClient(config.LABLOOP_CODEC_KEYS);
  try {
    const polled = await ensureAthenaFeeds({
      temporal,
      athena,
      practices,
      taskQueue: values['task-queue'] ?? TASK_QUEUE,
      intervalSeconds: config.ATHENA_POLL_INTERVAL_SECONDS,
      practiceIds: athenaPollPractices(config),
    });
    if (polled.length === 0) console.log('no practice is set to be polled (ATHENA_POLL_PRACTICES)');
    for (const practiceId of polled) {
      console.log(`practice ${practiceId}: feed subscribed, polled every ${config.ATHENA_POLL_INTERVAL_SECONDS} s`);
    }
  } finally {
    await temporal.connection.close();
  }
}

run().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
