import type { Client } from '@temporalio/client';
import type { Pool } from 'pg';
import type { AppConfig } from '../lib/config';
import { parseApiTokens, parseInboundPractices, parseOrigins } from '../lib/config';
import type { Logger } from '../lib/logger';
import type { PracticeRegistry } from '../lib/practices';
import { TASK_QUEUE } from '../workflows/definitions';
import { buildApp } from './app';
import { reviewApiDeps } from './review/settings';
import { startMllpServer, type MllpServer } from './mllp';

/** Largest MLLP frame accepted; matches the HTTPS body limit. */
const MLLP_MAX_FRAME_BYTES = 1024 * 1024;
/** An idle interface-engine connection is closed after 5 minutes; engines reconnect on demand. */
const MLLP_IDLE_TIMEOUT_MS = 5 * 60_000;

export interface RunningApi {
  url: string;
  mllpPort: number;
  close(): Promise<void>;
}

export async function startApi(options: {
  config: AppConfig;
  pool: Pool;
  temporal: Client;
  practices: PracticeRegistry;
  logger: Logger;
  taskQueue?: string;
}): Promise<RunningApi> {
  const { config } = options;
  const { app, ingestHl7 } = await buildApp({
    pool: options.pool,
    temporal: options.temporal,
    practices: options.practices,
    logger: options.logger,
    taskQueue: options.taskQueue ?? TASK_QUEUE,
    idSecret: config.LABLOOP_ID_SECRET,
    publicBaseUrl: config.PUBLIC_BASE_URL,
    apiTokens: parseApiTokens(config.LABLOOP_API_TOKENS),
    twilioAuthToken: config.TWILIO_AUTH_TOKEN,
    now: () => new Date(),
    opsTokens: parseApiTokens(config.LABLOOP_OPS_TOKENS ?? '', 'LABLOOP_OPS_TOKENS'),
    adminTokens: parseApiTokens(config.LABLOOP_ADMIN_TOKENS ?? '', 'LABLOOP_ADMIN_TOKENS'),
    temporalUiOrigins: parseOrigins(config.TEMPORAL_UI_ORIGINS ?? ''),
    rateLimit: { max: config.API_RATE_LIMIT_PER_MINUTE, timeWindowMs: 60_000 },
    trustProxy: config.TRUST_PROXY,
    ...reviewApiDeps(config, { pool: options.pool, practices: options.practices, now: () => new Date() }),
    athenaWebhookSecret: config.ATHENA_WEBHOOK_SECRET,
    spruceWebhookSecret: config.SPRUCE_WEBHOOK_SECRET,
    twilioInboundPractices: parseInboundPractices(config.TWILIO_INBOUND_PRACTICES),
  });
  const url = await app.listen({ host: config.API_HOST, port: config.API_PORT });
  let mllp: MllpServer;
  try {
    mllp = await startMllpServer({
      host: config.MLLP_HOST,
      port: config.MLLP_PORT,
      maxFrameBytes: MLLP_MAX_FRAME_BYTES,
      idleTimeoutMs: MLLP_IDLE_TIMEOUT_MS,
      onMessage: async (text) => (await ingestHl7(text)).ack,
    });
  } catch (err) {
    await app.close();
    throw err;
  }
  return {
    url,
    mllpPort: mllp.port,
    async close() {
      await mllp.close();
      await app.close();
    },
  };
}
