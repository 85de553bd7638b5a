import { readFileSync } from 'node:fs';
import type { Client } from '@temporalio/client';
import type { Pool } from 'pg';
import type { ProcessConfig } from '../lib/config';
import { ConfigError, mllpTransportProblem, parseApiTokens, parseInboundPractices, parseOrigins } from '../lib/config';
import { createConversationContacts, createSpruceClient } from '../lib/clients/spruce';
import { startInboundEventSweeper } from '../lib/inbound/sweeper';
import { createWorkflowSignaller } from '../lib/consent/workflow-signaller';
import type { Logger } from '../lib/logger';
import type { PracticeRegistry } from '../lib/practices';
import type { AuthenticatedSender, SenderRegistry } from '../lib/senders';
import { parseTwilioSenders } from '../lib/sms/senders';
import { smsSenderUse } from '../lib/sms/shared-senders';
import { TASK_QUEUE } from '../workflows/definitions';
import { buildApp } from './app';
import { isHl7Batch } from './hl7/batch';
import { startHl7DropDirectory, type Hl7DropDirectory } from './hl7-drop/watcher';
import { createHl7BatchIngest } from './ingest/hl7-batch-ingest';
import { reviewApiDeps } from './review/settings';
import { startMllpServer, type MllpServer } from './mllp';
import { identifyMllpSender } from './mllp/sender-identity';
import { startOpsServer, type OpsServer } from '../lib/metrics/ops-server';
import { apiMetrics, observeMllpIngest } from './routes/metrics';

/** Largest MLLP frame accepted; matches the HTTPS body limit. */
const MLLP_MAX_FRAME_BYTES = 1024 * 1024;
/** An idle interface-engine connection is closed after 5 minutes; engines reconnect on demand. */
const MLLP_IDLE_TIMEOUT_MS = 5 * 60_000;
/**
 * A Spruce webhook must be answered within 5 s (§3.4); looking up a reply's conversation gets 3 s of
 * it, leaving 2 s for the database work. A slower Spruce fails the event, and Spruce re-delivers it.
 */
const SPRUCE_CONVERSATION_LOOKUP_TIMEOUT_MS = 3_000;

export interface RunningApi {
  url: string;
  mllpPort: number;
  /** The internal metrics listener, when API_METRICS_PORT is set. */
  metricsUrl?: string;
  close(): Promise<void>;
}

export async function startApi(options: {
  config: ProcessConfig<'api'>;
  pool: Pool;
  temporal: Client;
  practices: PracticeRegistry;
  senders: SenderRegistry;
  logger: Logger;
  taskQueue?: string;
}): Promise<RunningApi> {
  const { config, senders } = options;
  const transportProblem = mllpTransportProblem(config);
  if (transportProblem !== undefined) throw new ConfigError([transportProblem]);
  warnAboutSmsSenders(config, options.practices, options.logger);
  const apiTokens = parseApiTokens(config.LABLOOP_API_TOKENS);
  // Refused at start, naming the problem: a token without a sender, a facility of another practice.
  senders.checkAgainst(options.practices, apiTokens.values());
  const { app, ingestHl7, ingestHl7Batch } = await buildApp({
    pool: options.pool,
    temporal: options.temporal,
    practices: options.practices,
    logger: options.logger,
    taskQueue: options.taskQueue ?? TASK_QUEUE,
    idSecret: config.LABLOOP_ID_SECRET,
    publicBaseUrl: config.PUBLIC_BASE_URL,
    apiTokens,
    senders,
    twilioAuthToken: config.TWILIO_AUTH_TOKEN,
    now: () => new Date(),
    opsTokens: parseApiTokens(config.LABLOOP_OPS_TOKENS ?? '', 'LABLOOP_OPS_TOKENS'),
    adminTokens: parseApiTokens(config.LABLOOP_ADMIN_TOKENS ?? '', 'LABLOOP_ADMIN_TOKENS'),
    metricsTokens: parseApiTokens(config.LABLOOP_METRICS_TOKENS ?? '', 'LABLOOP_METRICS_TOKENS'),
    temporalUiOrigins: parseOrigins(config.TEMPORAL_UI_ORIGINS ?? ''),
    rateLimit: { max: config.API_RATE_LIMIT_PER_MINUTE, timeWindowMs: 60_000 },
    trustProxy: config.TRUST_PROXY,
    ...reviewApiDeps(config, { pool: options.pool, practices: options.practices, now: () => new Date() }),
    athenaWebhookSecret: config.ATHENA_WEBHOOK_SECRET,
    spruceWebhookSecret: config.SPRUCE_WEBHOOK_SECRET,
    twilioInboundPractices: parseInboundPractices(config.TWILIO_INBOUND_PRACTICES),
    spruceConversations: createConversationContacts(
      createSpruceClient({
        baseUrl: config.SPRUCE_API_BASE_URL,
        token: config.SPRUCE_API_TOKEN,
        timeoutMs: SPRUCE_CONVERSATION_LOOKUP_TIMEOUT_MS,
      }),
    ),
  });
  const url = await app.listen({ host: config.API_HOST, port: config.API_PORT });
  // Inbound events whose signals never went out (lib/inbound/sweeper.ts): now and every minute.
  const sweeper = startInboundEventSweeper({
    pool: options.pool,
    signaller: createWorkflowSignaller(options.temporal),
    onError: (err) => options.logger.warn({ err }, 'inbound event sweep failed; retrying at the next interval'),
    onSwept: (result) => options.logger.info(result, 'inbound events finished by the sweeper'),
  });
  const observedBatch = createHl7BatchIngest({
    ingestHl7: (message, from) => observeMllpIngest(() => ingestHl7(message, from)),
    now: () => new Date(),
  });
  let mllp: MllpServer;
  try {
    mllp = await startMllpServer<AuthenticatedSender>({
      host: config.MLLP_HOST,
      port: config.MLLP_PORT,
      ...mllpTls(config),
      maxConnections: config.MLLP_MAX_CONNECTIONS,
      maxFrameBytes: MLLP_MAX_FRAME_BYTES,
      idleTimeoutMs: MLLP_IDLE_TIMEOUT_MS,
      identify: (peer) => identifyMllpSender(senders, peer),
      // A batch file in one frame is taken message by message (each counted like a single message)
      // and answered with a batch of ACKs.
      onMessage: async (text, from) =>
        isHl7Batch(text)
          ? (await observedBatch(text, from)).ack
          : (await observeMllpIngest(() => ingestHl7(text, from))).ack,
      onDiagnostic: (event) => {
        if (event.kind === 'refused-connection' || event.kind === 'tls-error') {
          options.logger.warn({ mllp: event }, 'MLLP connection refused');
        }
      },
    });
  } catch (err) {
    await sweeper.stop();
    await app.close();
    throw err;
  }
  // The internal metrics listener (no token: config admits only loopback or private addresses).
  let metricsServer: OpsServer | undefined;
  if (config.API_METRICS_PORT !== undefined) {
    const metrics = apiMetrics(options.pool);
    metricsServer = await startOpsServer({
      host: config.API_METRICS_HOST,
      port: config.API_METRICS_PORT,
      tokens: new Map(),
      metrics: metrics.text,
      contentType: metrics.contentType,
    }).catch(async (err: unknown) => {
      await Promise.all([sweeper.stop(), mllp.close(), app.close()]);
      throw err;
    });
  }
  let drop: Hl7DropDirectory | undefined;
  if (config.LABLOOP_HL7_DROP_DIR !== undefined) {
    // Files dropped on this host come from the sender the registry names for the drop directory.
    const dropSender = senders.dropDirectorySender();
    if (dropSender === undefined) {
      await Promise.all([sweeper.stop(), metricsServer?.close(), mllp.close(), app.close()]);
      throw new ConfigError([
        'LABLOOP_HL7_DROP_DIR: no sender in the sender registry has "hl7DropDirectory": true (who the files are from)',
      ]);
    }
    drop = await startHl7DropDirectory({
      directory: config.LABLOOP_HL7_DROP_DIR,
      sender: { sender: dropSender, channel: 'hl7-drop-directory' },
      ingestHl7,
      ingestHl7Batch,
      onError: (err) => options.logger.warn({ err }, 'HL7 drop file not handled; retrying at the next scan'),
    }).catch(async (err: unknown) => {
      await Promise.all([sweeper.stop(), metricsServer?.close(), mllp.close(), app.close()]);
      throw err;
    });
  }
  return {
    url,
    mllpPort: mllp.port,
    ...(metricsServer !== undefined ? { metricsUrl: metricsServer.url } : {}),
    async close() {
      await drop?.stop();
      await sweeper.stop();
      await metricsServer?.close();
      await mllp.close();
      await app.close();
    },
  };
}

/** The listener's mutual-TLS material from MLLP_TLS_*; none (plaintext) when they are unset. */
function mllpTls(config: ProcessConfig<'api'>): { tls?: { cert: Buffer; key: Buffer; ca: Buffer } } {
  const { MLLP_TLS_CERT_FILE: cert, MLLP_TLS_KEY_FILE: key, MLLP_TLS_CLIENT_CA_FILE: ca } = config;
  if (cert === undefined || key === undefined || ca === undefined) return {};
  return { tls: { cert: readFileSync(cert), key: readFileSync(key), ca: readFileSync(ca) } };
}

/**
 * Say at start what configuration cannot do: practices that share one Twilio sender get one HELP
 * reply from Twilio (one Advanced Opt-Out text per Messaging Service), and a practice naming a sender
 * that is not configured. Sender and practice IDs only.
 */
function warnAboutSmsSenders(config: ProcessConfig<'api'>, practices: PracticeRegistry, logger: Logger): void {
  const use = smsSenderUse(
    practices.all().map((p) => p.policy),
    parseTwilioSenders(config),
  );
  for (const shared of use.shared) {
    logger.warn(
      shared,
      'practices with different smsHelpText share one Twilio sender: Twilio answers a plain HELP with the ' +
        "Messaging Service's one Advanced Opt-Out text; give each practice its own Messaging Service " +
        '(TWILIO_SENDERS and policy.smsSenderId)',
    );
  }
  for (const unknown of use.unknownSender) {
    logger.warn(unknown, 'a practice names an SMS sender that TWILIO_SENDERS does not define');
  }
}
