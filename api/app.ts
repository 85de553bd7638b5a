import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import { serializerCompiler, validatorCompiler, hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { createSenderAuth } from './auth/machine-token';
import { createPrivilegedAuth } from './auth/privileged';
import type { ApiDeps } from './deps';
import type { TrustProxy } from '../lib/config';
import { createHandoff } from '../lib/ingest/handoff';
import { createHl7BatchIngest, type Hl7BatchIngest } from './ingest/hl7-batch-ingest';
import { createHl7Ingest, type Hl7Ingest } from './ingest/hl7-ingest';
import { createFhirIngest } from './ingest/fhir-ingest';
import { createAthenaWebhookIngest } from './ingest/athena-webhook-ingest';
import { createIngestRateLimit, ingestClientBudget } from './ingest/rate-limit';
import { healthRoutes } from './routes/health';
import { hl7Routes } from './routes/hl7';
import { fhirRoutes } from './routes/fhir';
import { athenaWebhookRoutes } from './routes/athena-webhooks';
import { resultRoutes } from './routes/results';
import { twilioWebhookRoutes } from './routes/twilio-webhooks';
import { spruceWebhookRoutes } from './routes/spruce-webhooks';
import { consentRoutes } from './routes/consent';
import { createAuditLog } from '../lib/audit';
import { allowPracticeLabels } from '../lib/metrics/labels';
import { apiMetrics, metricsRoutes, observeIngestResponse } from './routes/metrics';
import { createWorkflowSignaller } from '../lib/consent/workflow-signaller';
import { codecRoutes } from './routes/codec';
import { auditExportRoutes } from './routes/audit-export';
import { reviewApp } from './review';
import { resultStatusUrl } from '../lib/public-url';

/** Per-client request budget on public routes; an interface engine replaying a backlog stays well inside it. */
const RATE_LIMIT_PER_MINUTE = 600;
const RATE_LIMIT_WINDOW_MS = 60_000;
/**
 * Verified vendor webhooks (Twilio, Spruce) per route and window: their own budget, counted after
 * the signature check, because one sender's callbacks outgrow any per-IP budget. Twilio posts up to
 * 4 status callbacks per message (no callback for the initial status, §4.2), so a 20 segment/s
 * sender makes up to 80 a second (4,800 a minute) and ten of them 48,000: 60,000 a minute (1,000 a
 * second) carries them all and only stops a loop. Requests whose signature fails still count against
 * their address under the global budget.
 */
export const VENDOR_WEBHOOK_RATE_LIMIT_PER_MINUTE = 60_000;
/** HSTS for a year (the preload-list minimum), subdomains included; only sent when we are served over https. */
const HSTS_MAX_AGE_SECONDS = 365 * 24 * 60 * 60;
/** Default body limit for JSON routes; routes that need more (HL7) set their own. */
const DEFAULT_BODY_LIMIT_BYTES = 256 * 1024;

export interface BuiltApp {
  app: FastifyInstance;
  /** Shared with the MLLP listener, so both transports behave identically (the sender comes with each call). */
  ingestHl7: Hl7Ingest;
  /** Batch files (FHS/BHS … BTS/FTS), message by message. */
  ingestHl7Batch: Hl7BatchIngest;
  /** Every route as registered, for the per-route authentication and limits test. */
  routes: readonly RegisteredRoute[];
}

/** One registered route and the limits that apply to it. */
export interface RegisteredRoute {
  method: string;
  url: string;
  /** Effective body limit in bytes (route-level, else the app default). */
  bodyLimit: number;
  /** False when the route opted out of the rate limiter. */
  rateLimited: boolean;
}

/**
 * TRUST_PROXY in Fastify's terms. Fastify 5 treats a bare number as "trust nobody" (a hop count
 * cannot tell a proxy from a client that connected directly), so a hop count becomes the classic
 * rule "the nearest N hops are proxies" as a function: right only when every request reaches the
 * API through those proxies, which is what setting a hop count asserts.
 */
function fastifyTrustProxy(setting: TrustProxy): boolean | string[] | ((address: string, hop: number) => boolean) {
  if (typeof setting === 'number') return (_address, hop) => hop < setting;
  return setting;
}

/** Builds the API (no listening): routes, security headers, limits and error shape. */
export async function buildApp(deps: ApiDeps): Promise<BuiltApp> {
  // pino's Logger and Fastify's base logger differ only in generics; pin the instance type here.
  const logger: FastifyBaseLogger = deps.logger;
  const app = Fastify({
    loggerInstance: logger,
    bodyLimit: DEFAULT_BODY_LIMIT_BYTES,
    // Behind a load balancer (TRUST_PROXY) request.ip is the client from X-Forwarded-For, so the
    // rate limiter counts per client; exposed directly it is the socket's peer and the header is ignored.
    trustProxy: fastifyTrustProxy(deps.trustProxy ?? false),
    // Request IDs in logs let ops follow one request without logging its content.
    requestIdHeader: 'x-request-id',
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  const routes: RegisteredRoute[] = [];
  app.addHook('onRoute', (route) => {
    const rateLimitConfig = (route.config as { rateLimit?: unknown } | undefined)?.rateLimit;
    for (const method of [route.method].flat()) {
      routes.push({
        method,
        url: route.url,
        bodyLimit: route.bodyLimit ?? DEFAULT_BODY_LIMIT_BYTES,
        rateLimited: rateLimitConfig !== false,
      });
    }
  });

  const https = new URL(deps.publicBaseUrl).protocol === 'https:';
  await app.register(helmet, {
    contentSecurityPolicy: { directives: { defaultSrc: ["'self'"] } },
    // Over plain http (the sandbox on loopback) HSTS means nothing and would only confuse.
    strictTransportSecurity: https ? { maxAge: HSTS_MAX_AGE_SECONDS, includeSubDomains: true } : false,
  });
  await app.register(rateLimit, {
    max: deps.rateLimit?.max ?? RATE_LIMIT_PER_MINUTE,
    timeWindow: deps.rateLimit?.timeWindowMs ?? RATE_LIMIT_WINDOW_MS,
  });

  // Fastify's own 404 logs "Route GET:/the/path not found", and a path can carry PHI
  // (/anything/Jane-Doe/6175550123): answer the caller the same way, log nothing about the path.
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: 'Not Found', message: `Route ${request.method}:${request.url} not found` }),
  );
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (hasZodFastifySchemaValidationErrors(error)) {
      const message = error.validation
        .map((v) => `${v.instancePath.replace(/^\//, '').replace(/\//g, '.') || 'request'}: ${v.message ?? 'invalid'}`)
        .join('; ');
      return reply.code(400).send({ error: 'Bad Request', message });
    }
    const status = error.statusCode ?? 500;
    if (status >= 500) request.log.error({ err: error }, 'request failed');
    return reply.code(status).send({
      error: status >= 500 ? 'Internal Server Error' : (error.name ?? 'Error'),
      // Framework messages for 4xx name the problem (content type, size); 5xx text stays internal.
      message: status >= 500 ? 'the request could not be processed; it is safe to retry' : error.message,
    });
  });

  const requireMachineToken = createSenderAuth(deps.apiTokens, deps.senders);
  const audit = createAuditLog(deps.pool);
  // Linking a result to one another source defined is a routing decision: audited at hand-off.
  const handoff = createHandoff({ ...deps, audit });
  const ingestHl7 = createHl7Ingest({ handoff, practices: deps.practices, logger: deps.logger, now: deps.now, audit });
  const ingestHl7Batch = createHl7BatchIngest({ ingestHl7, now: deps.now });
  const statusUrl = (workflowId: string) => resultStatusUrl(deps.publicBaseUrl, workflowId);

  await app.register(healthRoutes({ pool: deps.pool, temporal: deps.temporal }));
  // Prometheus metrics for operators, and the ingest routes' answers counted in one place.
  allowPracticeLabels(deps.practices.all().map((p) => p.policy.practiceId));
  app.addHook('onResponse', observeIngestResponse);
  await app.register(
    metricsRoutes({ metrics: apiMetrics(deps.pool), metricsTokens: deps.metricsTokens ?? new Map<string, string>() }),
  );
  // Machine ingestion: per-IP only for failed authentication, then per authenticated client.
  const globalMax = deps.rateLimit?.max ?? RATE_LIMIT_PER_MINUTE;
  const ingestRateLimit = createIngestRateLimit(app, {
    unauthenticatedMax: globalMax,
    authenticatedMax: ingestClientBudget(globalMax, deps.ingestRateLimitPerClient),
    timeWindowMs: deps.rateLimit?.timeWindowMs ?? RATE_LIMIT_WINDOW_MS,
  });
  await app.register(
    hl7Routes({
      ingestHl7,
      ingestHl7Batch,
      requireMachineToken: requireMachineToken('ingest'),
      statusUrl,
      rateLimit: ingestRateLimit,
    }),
  );
  const ingestFhir = createFhirIngest({ handoff, practices: deps.practices, logger: deps.logger });
  await app.register(
    fhirRoutes({
      ingestFhir,
      requireMachineToken: requireMachineToken('ingest'),
      statusUrl,
      rateLimit: ingestRateLimit,
    }),
  );
  const ingestAthenaWebhook = createAthenaWebhookIngest({
    temporal: deps.temporal,
    practices: deps.practices,
    taskQueue: deps.taskQueue,
    logger: deps.logger,
  });
  await app.register(
    athenaWebhookRoutes({
      secret: deps.athenaWebhookSecret,
      sender: deps.senders.athenaWebhookSender(),
      ingest: ingestAthenaWebhook,
      rateLimit: ingestRateLimit,
    }),
  );
  await app.register(resultRoutes({ temporal: deps.temporal, requireMachineToken: requireMachineToken('status') }));
  const signaller = deps.signaller ?? createWorkflowSignaller(deps.temporal);
  // Twilio and Spruce: per IP only for requests whose signature failed, then per vendor and route.
  const vendorWebhookRateLimit = createIngestRateLimit(app, {
    unauthenticatedMax: globalMax,
    authenticatedMax: deps.vendorWebhookRateLimitPerRoute ?? VENDOR_WEBHOOK_RATE_LIMIT_PER_MINUTE,
    timeWindowMs: deps.rateLimit?.timeWindowMs ?? RATE_LIMIT_WINDOW_MS,
  });
  await app.register(
    twilioWebhookRoutes({
      pool: deps.pool,
      audit,
      signaller,
      practices: deps.practices,
      authToken: deps.twilioAuthToken,
      publicBaseUrl: deps.publicBaseUrl,
      inboundPractices: deps.twilioInboundPractices ?? new Map<string, string[]>(),
      now: deps.now,
      rateLimit: vendorWebhookRateLimit,
    }),
  );
  await app.register(
    spruceWebhookRoutes({
      pool: deps.pool,
      audit,
      signaller,
      secret: deps.spruceWebhookSecret,
      now: deps.now,
      rateLimit: vendorWebhookRateLimit,
      ...(deps.spruceConversations !== undefined ? { conversations: deps.spruceConversations } : {}),
    }),
  );
  await app.register(
    consentRoutes({
      pool: deps.pool,
      audit,
      signaller,
      practices: deps.practices,
      requireMachineToken: requireMachineToken('consent'),
      now: deps.now,
    }),
  );
  await app.register(
    codecRoutes({
      audit,
      codecs: deps.temporal.options.loadedDataConverter.payloadCodecs,
      namespace: deps.temporal.options.namespace,
      allowedOrigins: deps.temporalUiOrigins ?? [],
      requireOperator: createPrivilegedAuth({
        purpose: 'decrypt workflow payloads',
        tokens: deps.opsTokens ?? new Map<string, string>(),
        session: deps.staffSession,
        sessionRoles: ['administrator'],
      }),
    }),
    { prefix: '/codec' },
  );
  // Integration tokens whose sender has the audit-export operation export their own practices only.
  const senderExportTokens = new Map<string, string>();
  const senderScopes = new Map<string, { senderId: string; practices: readonly string[] }>();
  for (const [token, name] of deps.apiTokens) {
    const sender = deps.senders.byTokenName(name);
    if (sender?.operations.includes('audit-export') !== true) continue;
    senderExportTokens.set(token, `sender:${sender.id}`);
    senderScopes.set(`sender:${sender.id}`, { senderId: sender.id, practices: sender.practices });
  }
  await app.register(
    auditExportRoutes({
      pool: deps.pool,
      now: deps.now,
      senderScopes,
      requireAdministrator: createPrivilegedAuth({
        purpose: 'export the audit log',
        tokens: new Map([...(deps.adminTokens ?? new Map<string, string>()), ...senderExportTokens]),
        session: deps.staffSession,
        sessionRoles: ['administrator'],
      }),
    }),
  );
  await app.register(
    reviewApp({
      pool: deps.pool,
      temporal: deps.temporal,
      practices: deps.practices,
      logger: deps.logger,
      now: deps.now,
      publicBaseUrl: deps.publicBaseUrl,
      settings: deps.review,
    }),
    { prefix: '/review' },
  );
  return { app, ingestHl7, ingestHl7Batch, routes };
}
