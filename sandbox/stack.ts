import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { DestinationStream } from 'pino';
import type { Client } from '@temporalio/client';
import type { NativeConnection, Worker, WorkflowBundleOption } from '@temporalio/worker';
import type { Pool } from 'pg';
import { createActivities } from '../activities';
import { startApi, type RunningApi } from '../api/start-api';
import { athenaPollPractices, loadConfig, type AppConfig } from '../lib/config';
import { createDatabaseIfMissing } from './servers/create-database';
import { startEmbeddedPostgres, type EmbeddedDatabase } from './servers/embedded-postgres';
import { migrateUp } from '../lib/db/migrate';
import { createPool } from '../lib/db/pool';
import { freePort } from './servers/free-port';
import { startAuditAnchoring } from '../lib/audit/anchor';
import { anchorPublisherFromConfig } from '../lib/audit/anchor-config';
import { ensureSandboxAnchorKey } from '../lib/audit/signing';
import { createLogger } from '../lib/logger';
import { loadPracticeRegistry, type PracticeRegistry } from '../lib/practices';
import { connectClient, connectNative, temporalConnectionSettings } from '../lib/temporal/connection';
import { installTemporalRuntime } from '../lib/temporal/runtime';
import { startDevServer, type DevServer } from './servers/temporal-dev-server';
import { buildActivityDeps, smsSendForSender } from '../worker/build-activity-deps';
import { createLabloopWorker } from '../worker/create-worker';
import { parseTwilioSenders } from '../lib/sms/senders';
import { createSenderSmsWorkers } from '../worker/sms-worker';
import { startWorkerOps } from '../worker/ops';
import { SEARCH_ATTRIBUTES, TASK_QUEUE } from '../workflows/definitions';
import { startAthenaFake, type AthenaFake } from './fakes/athena';
import { ensureAthenaFeeds } from '../lib/athena-feed';
import { createAthenaClient } from '../lib/clients/athena';
import { athenaFeedScheduleId } from '../workflows/definitions';
import { sandboxAccounts, startOidcProvider, SANDBOX_OIDC_CLIENT_ID } from './oidc-provider';
import { DEFAULT_SECURE_ENDPOINT_ID, startSpruceFake, type SpruceFake } from './fakes/spruce';
import { DEFAULT_SERVICE_NUMBER, startTwilioFake, type TwilioFake } from './fakes/twilio';
import { helpTextByMessagingService } from '../lib/sms/shared-senders';
import { startSandboxOutbox } from './outbox-overview';
import { generateSandboxSecrets, type SandboxSecrets } from './secrets';
import { issueMllpCertificates } from './certificates';
import { loadSenderRegistry } from '../lib/senders';

/** The sandbox's MLLP senders (config/senders.sandbox.json names them by certificate subject). */
export const SANDBOX_MLLP_SENDERS = ['riverside-lab-engine', 'riverside-athena-oru'] as const;
export type SandboxMllpSender = (typeof SANDBOX_MLLP_SENDERS)[number];

/** What an MLLP client of the sandbox needs: the CA to trust and its own certificate (PEM and files). */
export interface SandboxMllpTls {
  caFile: string;
  ca: string;
  clients: Record<SandboxMllpSender, { cert: string; key: string; certFile: string; keyFile: string }>;
}

/**
 * The whole loop on one machine: PostgreSQL (given or embedded), Temporal (given or the dev server
 * with its UI), the local fakes of Twilio, Spruce and athenahealth, the worker and the API. `npm
 * start` runs it for people; the end-to-end tests run exactly the same assembly.
 */
export interface StackOptions {
  /** Persistent state (database, Temporal SQLite); a throwaway temp directory when absent. */
  dataDir?: string;
  /**
   * The run command at a terminal: the Temporal dev server gets a process group of its own, so a
   * Ctrl-C stops it after the worker, not under it (sandbox/servers/temporal-dev-server.ts).
   */
  interactive?: boolean;
  secrets?: SandboxSecrets;
  /** Create the database on this server (admin URL) instead of starting an embedded one. */
  postgresAdminUrl?: string;
  /** Use this database as it is. */
  databaseUrl?: string;
  /** Run migrations with this URL (the schema owner) instead of `databaseUrl` (the runtime role). */
  migrationDatabaseUrl?: string;
  /** Use this Temporal server instead of starting the dev server. */
  temporalAddress?: string;
  /**
   * Where the connection settings for that server come from (TEMPORAL_NAMESPACE, TEMPORAL_API_KEY,
   * TEMPORAL_TLS_*, TEMPORAL_PROFILE, TEMPORAL_CONFIG_FILE, TEMPORAL_GRPC_META_*), default
   * process.env, so `npm start` can run the loop against Temporal Cloud. Ignored for the stack's
   * own dev server, which is plaintext in the default namespace.
   */
  temporalEnv?: NodeJS.ProcessEnv;
  temporalUi?: boolean;
  /** Preferred ports; a taken port falls back to a free one. 0 = any. */
  ports?: Partial<
    Record<
      | 'api'
      | 'mllp'
      | 'temporal'
      | 'temporalUi'
      | 'twilio'
      | 'spruce'
      | 'athena'
      | 'oidc'
      | 'outbox'
      | 'worker'
      | 'apiMetrics',
      number
    >
  >;
  taskQueue?: string;
  workflowBundle?: WorkflowBundleOption;
  logLevel?: string;
  logDestination?: DestinationStream;
  /** Practice registry file (default config/practices.sandbox.json). */
  practicesFile?: string;
  /** Sender registry file (default config/senders.sandbox.json). */
  sendersFile?: string;
  /**
   * Create the athena changed-feed poll schedules (default: only when the stack runs its own Temporal
   * server; schedule IDs are per practice, so stacks sharing a server would take each other's over).
   */
  athenaFeedSchedule?: boolean;
  /** How often the audit chain head is anchored (default lib/audit/anchor.ts DEFAULT_ANCHOR_INTERVAL_MS). */
  auditAnchorIntervalMs?: number;
  /** Twilio fake callback pacing (tests make it fast). */
  twilioCallbackDelaysMs?: { sent?: number; delivered?: number };
  /**
   * Where this process's Temporal Runtime exports its metrics (127.0.0.1:<port>), when something
   * installed the Runtime before the stack (the test log capture); otherwise the stack installs it
   * with an exporter on a free port.
   */
  temporalMetricsPort?: number;
}

export interface Stack {
  urls: {
    api: string;
    review: string;
    mllp: string;
    temporal: string;
    temporalUi?: string;
    twilio: string;
    spruce: string;
    athena: string;
    /** The local SSO identity provider for the review app (sandbox staff, password "sandbox"). */
    oidc: string;
    /** One page of everything "sent", by patient and channel (sandbox/outbox-overview.ts). */
    outbox: string;
    /** The worker's own port: /livez, /readyz, /metrics (worker/ops.ts). */
    worker: string;
    /** The API's internal metrics listener (`/metrics` without a token, on loopback). */
    apiMetrics?: string;
  };
  config: AppConfig;
  secrets: SandboxSecrets;
  /** MLLP is mutual TLS in the sandbox too: its CA and the sandbox senders' client certificates. */
  mllpTls: SandboxMllpTls;
  pool: Pool;
  temporal: Client;
  practices: PracticeRegistry;
  taskQueue: string;
  fakes: { twilio: TwilioFake; spruce: SpruceFake; athena: AthenaFake };
  stop(): Promise<void>;
}

/**
 * The sandbox's Messaging Service as the Twilio fake knows it: its pool number, and Advanced Opt-Out
 * answering a plain HELP with the help text of the practice that texts from it (what an operator
 * configures in Twilio for each practice's Messaging Service, see README). The sandbox sends only
 * from the default sender, so every practice there shares this one service and its first practice's
 * text; the API warns at start when practices with different texts share it.
 */
function sandboxMessagingServices(serviceSid: string, practicesFile: string) {
  const policies = loadPracticeRegistry(practicesFile)
    .all()
    .map((p) => p.policy);
  const senders = parseTwilioSenders({
    TWILIO_MESSAGING_SERVICE_SID: serviceSid,
    TWILIO_SENDER_SEGMENTS_PER_SECOND: 1,
  });
  const help = helpTextByMessagingService(policies, senders).get(serviceSid);
  return [
    {
      sid: serviceSid,
      phoneNumbers: [DEFAULT_SERVICE_NUMBER],
      ...(help !== undefined ? { advancedOptOut: { replies: { HELP: help } } } : {}),
    },
  ];
}

function issuedFor<T>(issued: Record<string, T>, name: string): T {
  const found = issued[name];
  if (found === undefined) throw new Error(`no sandbox certificate for ${name}`);
  return found;
}

async function pickPort(preferred: number | undefined): Promise<number> {
  if (preferred === undefined || preferred === 0) return freePort();
  try {
    const { createServer } = await import('node:net');
    await new Promise<void>((resolve, reject) => {
      const probe = createServer();
      probe.once('error', reject);
      probe.listen(preferred, '127.0.0.1', () => probe.close(() => resolve()));
    });
    return preferred;
  } catch {
    return freePort();
  }
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) {
      try {
        await stop();
      } catch {
        // Keep stopping the rest; a half-stopped stack is worse than a noisy one.
      }
    }
  };
  try {
    const secrets = options.secrets ?? generateSandboxSecrets();
    const taskQueue = options.taskQueue ?? TASK_QUEUE;
    const apiPort = await pickPort(options.ports?.api);
    const mllpPort = await pickPort(options.ports?.mllp);
    const apiUrl = `http://127.0.0.1:${apiPort}`;

    // PostgreSQL
    let databaseUrl = options.databaseUrl;
    if (databaseUrl === undefined) {
      let embedded: EmbeddedDatabase | undefined;
      let adminUrl = options.postgresAdminUrl;
      if (adminUrl === undefined) {
        const pgDir = options.dataDir === undefined ? undefined : path.join(options.dataDir, 'postgres');
        embedded = await startEmbeddedPostgres({ dataDir: pgDir });
        stops.push(() => embedded!.stop());
        adminUrl = embedded.adminUrl;
      }
      databaseUrl = await createDatabaseIfMissing(
        adminUrl,
        options.dataDir === undefined ? `labloop_${Date.now().toString(36)}` : 'labloop',
      );
    }

    // Temporal. The SDK's own log lines go to our logger from the start: the dev server's fallback
    // (the SDK download) creates the SDK runtime, and it can be set up only once per process.
    const temporalMetricsPort = options.temporalMetricsPort ?? (await freePort());
    installTemporalRuntime(createLogger(options.logLevel ?? 'info', 'labloop', options.logDestination), 'WARN', {
      metricsPort: temporalMetricsPort,
    });
    let temporalAddress = options.temporalAddress;
    let temporalUi: string | undefined;
    let temporalSettings: Record<string, string>;
    if (temporalAddress !== undefined) {
      temporalSettings = {
        TEMPORAL_NAMESPACE: 'default',
        ...temporalConnectionSettings(options.temporalEnv ?? process.env),
      };
    } else {
      if (options.dataDir !== undefined) mkdirSync(options.dataDir, { recursive: true });
      const server: DevServer = await startDevServer({
        port: await pickPort(options.ports?.temporal),
        uiPort: options.temporalUi === false ? undefined : await pickPort(options.ports?.temporalUi),
        headless: options.temporalUi === false,
        dbFilename: options.dataDir === undefined ? undefined : path.join(options.dataDir, 'temporal.sqlite'),
        searchAttributes: SEARCH_ATTRIBUTES,
        uiCodecEndpoint: `${apiUrl}/codec`,
        ownProcessGroup: options.interactive === true,
      });
      stops.push(() => server.stop());
      temporalAddress = server.address;
      temporalUi = server.uiUrl;
      temporalSettings = { TEMPORAL_NAMESPACE: server.namespace };
    }

    // Local fakes of the outside world, wired to call the API's webhooks.
    const practicesFile =
      options.practicesFile ?? process.env.LABLOOP_PRACTICES_FILE ?? 'config/practices.sandbox.json';
    const twilio = await startTwilioFake({
      accountSid: secrets.twilioAccountSid,
      authToken: secrets.twilioAuthToken,
      port: await pickPort(options.ports?.twilio),
      inboundUrl: `${apiUrl}/webhooks/twilio/inbound`,
      callbackDelaysMs: options.twilioCallbackDelaysMs,
      messagingServices: sandboxMessagingServices(secrets.twilioMessagingServiceSid, practicesFile),
    });
    stops.push(() => twilio.close());
    const spruce = await startSpruceFake({
      token: secrets.spruceToken,
      webhookSecret: secrets.spruceWebhookSecret,
      webhookUrl: `${apiUrl}/webhooks/spruce`,
      port: await pickPort(options.ports?.spruce),
    });
    stops.push(() => spruce.close());
    const athena = await startAthenaFake({
      clientId: secrets.athenaClientId,
      clientSecret: secrets.athenaClientSecret,
      webhook: { url: `${apiUrl}/webhooks/athena`, secret: secrets.athenaWebhookSecret },
      port: await pickPort(options.ports?.athena),
    });
    stops.push(() => athena.close());
    // Review-app single sign-on: a local identity provider knowing every sandbox staff member.
    const oidcClientSecret = randomBytes(24).toString('hex');
    const oidc = await startOidcProvider({
      clients: [
        {
          clientId: SANDBOX_OIDC_CLIENT_ID,
          clientSecret: oidcClientSecret,
          redirectUris: [`${apiUrl}/review/auth/callback`],
        },
      ],
      accounts: sandboxAccounts(loadPracticeRegistry(practicesFile)),
      port: await pickPort(options.ports?.oidc),
    });
    stops.push(() => oidc.close());

    // Signed audit anchors: the sandbox's own key and anchor directory (production: docs/security.md).
    const auditDir =
      options.dataDir !== undefined
        ? path.join(options.dataDir, 'audit')
        : mkdtempSync(path.join(tmpdir(), 'labloop-audit-'));
    if (options.dataDir === undefined) stops.push(async () => rmSync(auditDir, { recursive: true, force: true }));
    const auditKey = ensureSandboxAnchorKey(path.join(auditDir, 'keys'));
    // MLLP over mutual TLS, as in production: the sandbox is its own CA (kept with its data, so
    // engines configured against it keep working across restarts).
    const mllpTlsDir =
      options.dataDir !== undefined
        ? path.join(options.dataDir, 'mllp-tls')
        : mkdtempSync(path.join(tmpdir(), 'labloop-mllp-tls-'));
    if (options.dataDir === undefined) stops.push(async () => rmSync(mllpTlsDir, { recursive: true, force: true }));
    const certificates = issueMllpCertificates(mllpTlsDir, SANDBOX_MLLP_SENDERS);
    const mllpTls: SandboxMllpTls = {
      caFile: certificates.caFile,
      ca: certificates.ca,
      clients: {
        'riverside-lab-engine': issuedFor(certificates.clients, 'riverside-lab-engine'),
        'riverside-athena-oru': issuedFor(certificates.clients, 'riverside-athena-oru'),
      },
    };

    const env: NodeJS.ProcessEnv = {
      NODE_ENV: 'development',
      AUDIT_SIGNING_KEY_FILE: auditKey.privateKeyFile,
      AUDIT_ANCHOR_PUBLIC_KEYS: auditKey.publicKeyFile,
      AUDIT_ANCHOR_DIR: path.join(auditDir, 'anchors'),
      LOG_LEVEL: options.logLevel ?? 'info',
      DATABASE_URL: databaseUrl,
      ...temporalSettings,
      TEMPORAL_ADDRESS: temporalAddress,
      LABLOOP_CODEC_KEYS: secrets.codecKeys,
      LABLOOP_ID_SECRET: secrets.idSecret,
      LABLOOP_PRACTICES_FILE:
        options.practicesFile ?? process.env.LABLOOP_PRACTICES_FILE ?? 'config/practices.sandbox.json',
      API_HOST: '127.0.0.1',
      API_PORT: String(apiPort),
      MLLP_HOST: '127.0.0.1',
      MLLP_PORT: String(mllpPort),
      MLLP_TLS_CERT_FILE: certificates.server.certFile,
      MLLP_TLS_KEY_FILE: certificates.server.keyFile,
      MLLP_TLS_CLIENT_CA_FILE: certificates.caFile,
      LABLOOP_SENDERS_FILE: options.sendersFile ?? process.env.LABLOOP_SENDERS_FILE ?? 'config/senders.sandbox.json',
      PUBLIC_BASE_URL: apiUrl,
      LABLOOP_API_TOKENS: `sandbox:${secrets.apiToken},sandbox-athena-oru:${secrets.athenaOruToken}`,
      LABLOOP_OPS_TOKENS: `sandbox-ops:${secrets.opsToken}`,
      LABLOOP_ADMIN_TOKENS: `sandbox-admin:${secrets.adminToken}`,
      LABLOOP_METRICS_TOKENS: `sandbox-metrics:${secrets.metricsToken}`,
      WORKER_HTTP_PORT: String(await pickPort(options.ports?.worker)),
      API_METRICS_PORT: String(await pickPort(options.ports?.apiMetrics)),
      WORKER_TEMPORAL_METRICS_PORT: String(temporalMetricsPort),
      // The Web UI decrypts payloads through the API's codec endpoint; the browser may reach the UI by either name.
      ...(temporalUi !== undefined ? { TEMPORAL_UI_ORIGINS: uiOrigins(temporalUi).join(',') } : {}),
      TWILIO_ACCOUNT_SID: secrets.twilioAccountSid,
      TWILIO_AUTH_TOKEN: secrets.twilioAuthToken,
      TWILIO_MESSAGING_SERVICE_SID: secrets.twilioMessagingServiceSid,
      TWILIO_API_BASE_URL: twilio.url,
      SPRUCE_API_TOKEN: secrets.spruceToken,
      SPRUCE_API_BASE_URL: spruce.apiBaseUrl,
      SPRUCE_WEBHOOK_SECRET: secrets.spruceWebhookSecret,
      SPRUCE_INTERNAL_ENDPOINT_ID: DEFAULT_SECURE_ENDPOINT_ID,
      ATHENA_BASE_URL: athena.url,
      ATHENA_CLIENT_ID: secrets.athenaClientId,
      ATHENA_CLIENT_SECRET: secrets.athenaClientSecret,
      ATHENA_WEBHOOK_SECRET: secrets.athenaWebhookSecret,
      OIDC_ISSUER_URL: oidc.issuer,
      OIDC_CLIENT_ID: SANDBOX_OIDC_CLIENT_ID,
      OIDC_CLIENT_SECRET: oidcClientSecret,
      SESSION_SECRET: secrets.sessionSecret,
      // The sandbox also offers "sign in as" any staff member; the config refuses this in production.
      LABLOOP_DEMO_LOGIN: 'true',
    };
    const config = loadConfig(env);
    const logger = createLogger(config.LOG_LEVEL, 'labloop', options.logDestination);
    const practices = loadPracticeRegistry(config.LABLOOP_PRACTICES_FILE);
    const senders = loadSenderRegistry(config.LABLOOP_SENDERS_FILE);

    await migrateUp(options.migrationDatabaseUrl ?? databaseUrl);
    const pool = createPool(databaseUrl);
    stops.push(() => pool.end());
    // What the worker process does in production: anchor the audit chain's head while it moves.
    const signed = anchorPublisherFromConfig(config, pool);
    const anchoring = startAuditAnchoring({
      pool,
      intervalMs: options.auditAnchorIntervalMs ?? config.AUDIT_ANCHOR_INTERVAL_MS,
      publisher: signed.publisher,
      onError: (err) => logger.warn({ err }, 'audit chain head not anchored; retrying at the next interval'),
    });
    stops.push(() => anchoring.stop());

    // Everything "sent", by patient and channel, across the three fakes.
    const outbox = await startSandboxOutbox({
      pool,
      fakes: { twilio, spruce, athena },
      port: await pickPort(options.ports?.outbox),
    });
    stops.push(() => outbox.close());

    // Worker
    const native: { connection: NativeConnection; namespace: string } = await connectNative(env);
    stops.push(() => native.connection.close());
    // The worker's health and metrics port, as worker/main.ts runs it (signals are the launcher's).
    const workerOps = await startWorkerOps({ config, connection: native.connection, logger, handleSignals: false });
    stops.push(() => workerOps.close());
    const deps = buildActivityDeps(config, pool, practices);
    const activities = createActivities(deps);
    const worker: Worker = await createLabloopWorker({
      connection: native.connection,
      namespace: native.namespace,
      codecKeys: config.LABLOOP_CODEC_KEYS,
      activities,
      taskQueue,
      workflowBundle: options.workflowBundle,
    });
    const workerRun = worker.run();
    workerOps.track([worker]);
    stops.push(async () => {
      workerOps.beginShutdown();
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await workerRun;
    });
    // SMS sends on one task queue per sender, paced by the server at each sender's throughput. The
    // workflow schedules sends on the queues derived from its own (tests run private task queues).
    const smsWorkers: Worker[] = await createSenderSmsWorkers({
      connection: native.connection,
      namespace: native.namespace,
      codecKeys: config.LABLOOP_CODEC_KEYS,
      senders: parseTwilioSenders(config),
      workflowTaskQueue: taskQueue,
      sendFor: smsSendForSender(config, deps),
    });
    for (const smsWorker of smsWorkers) {
      const smsWorkerRun = smsWorker.run();
      workerOps.track([smsWorker]);
      stops.push(async () => {
        if (smsWorker.getState() === 'RUNNING') smsWorker.shutdown();
        await smsWorkerRun;
      });
    }

    // API
    const temporal = await connectClient(config.LABLOOP_CODEC_KEYS, env);
    stops.push(() => temporal.connection.close());
    const api: RunningApi = await startApi({ config, pool, temporal, practices, senders, logger, taskQueue });
    stops.push(() => api.close());

    // athena's changed-data feed, polled by one Temporal Schedule per practice (the floor under the
    // webhooks). On a Temporal server of our own by default; on a shared one only when asked, and
    // removed again on stop, because schedule IDs are per practice, not per stack.
    if (options.athenaFeedSchedule ?? options.temporalAddress === undefined) {
      const polled = await ensureAthenaFeeds({
        temporal,
        athena: createAthenaClient({
          baseUrl: config.ATHENA_BASE_URL,
          clientId: config.ATHENA_CLIENT_ID,
          clientSecret: config.ATHENA_CLIENT_SECRET,
        }),
        practices,
        taskQueue,
        intervalSeconds: config.ATHENA_POLL_INTERVAL_SECONDS,
        practiceIds: athenaPollPractices(config),
      });
      if (options.temporalAddress !== undefined) {
        stops.push(async () => {
          for (const practiceId of polled) await temporal.schedule.getHandle(athenaFeedScheduleId(practiceId)).delete();
        });
      }
    }

    return {
      urls: {
        api: apiUrl,
        review: `${apiUrl}/review`,
        mllp: `mllp://127.0.0.1:${api.mllpPort}`,
        temporal: temporalAddress,
        temporalUi,
        twilio: twilio.url,
        spruce: spruce.url,
        athena: athena.url,
        oidc: oidc.issuer,
        outbox: outbox.url,
        worker: workerOps.url,
        ...(api.metricsUrl !== undefined ? { apiMetrics: api.metricsUrl } : {}),
      },
      config,
      secrets,
      mllpTls,
      pool,
      temporal,
      practices,
      taskQueue,
      fakes: { twilio, spruce, athena },
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** The UI's origin as given and with 127.0.0.1 and localhost swapped. */
function uiOrigins(uiUrl: string): string[] {
  const url = new URL(uiUrl);
  const other = url.hostname === '127.0.0.1' ? 'localhost' : url.hostname === 'localhost' ? '127.0.0.1' : undefined;
  const origins = [url.origin];
  if (other !== undefined) origins.push(`${url.protocol}//${other}${url.port === '' ? '' : `:${url.port}`}`);
  return origins;
}
