/**
 * Production API entry: configuration, the database made ready (lib/db/startup.ts: migrate as the
 * owner, or in production verify the schema and the runtime role's rights), one Temporal client,
 * HTTP + MLLP listeners.
 */
import { loadConfig } from '../lib/config';
import { createPool } from '../lib/db/pool';
import { prepareDatabase } from '../lib/db/startup';
import { createLogger } from '../lib/logger';
import { loadPracticeRegistry } from '../lib/practices';
import { loadSenderRegistry } from '../lib/senders';
import { connectClient } from '../lib/temporal/connection';
import { startApi } from './start-api';

/**
 * On SIGTERM the API stops accepting (new requests get 503 while in-flight ones finish: HL7 and FHIR
 * hand-offs are bounded at 10 s by their Temporal deadline) and exits; after this long it exits
 * anyway, inside compose's stop_grace_period (30 s).
 */
const SHUTDOWN_DEADLINE_MS = 20_000;

async function run(): Promise<void> {
  const config = loadConfig(process.env, 'api');
  const logger = createLogger(config.LOG_LEVEL, 'labloop-api');
  if (config.DATABASE_URL === undefined) throw new Error('DATABASE_URL is required to run the API on its own');
  const practices = loadPracticeRegistry(config.LABLOOP_PRACTICES_FILE);
  const senders = loadSenderRegistry(config.LABLOOP_SENDERS_FILE);
  logger.info({ database: await prepareDatabase(config) }, 'database ready');
  const pool = createPool(config.DATABASE_URL, { applicationName: 'labloop-api' });
  const temporal = await connectClient(config.LABLOOP_CODEC_KEYS);
  const api = await startApi({ config, pool, temporal, practices, senders, logger });
  logger.info({ url: api.url, mllpPort: api.mllpPort }, 'API listening');
  let stopping = false;
  const shutdown = async (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutdown requested: in-flight requests finish');
    setTimeout(() => {
      logger.error({ signal }, 'shutdown overran its deadline; exiting');
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS).unref();
    await api.close();
    await temporal.connection.close();
    await pool.end();
    logger.info('API stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

run().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
