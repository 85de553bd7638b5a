import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Pool } from 'pg';
import { Registry } from 'prom-client';
import { unsignedBacklogRegistry } from '../../lib/metrics/backlog';
import { registry } from '../../lib/metrics/registry';
import { SCRAPE_REFUSED_MESSAGE } from '../../lib/metrics/scrape-access';
import { ingestAckLatency, ingestRefusals } from '../../lib/metrics/series';
import { Hl7ErrorCode } from '../hl7';
import type { Hl7IngestOutcome } from '../ingest/hl7-ingest';
import { createMachineAuth } from '../auth/machine-token';

/**
 * The API's metrics: `GET /metrics` on the public listener for operators with a token
 * (LABLOOP_METRICS_TOKENS), the same text on the internal listener when one is configured
 * (API_METRICS_PORT, api/start-api.ts), and the ingest series, taken from every ingest route's
 * response in one hook rather than in each route.
 */

/** The API process's exposition: every labloop series, plus the unsigned backlog read at scrape time. */
export function apiMetrics(pool: Pool): { text: () => Promise<string>; contentType: string } {
  const merged = Registry.merge([registry, unsignedBacklogRegistry(pool)]);
  return { text: () => merged.metrics(), contentType: merged.contentType };
}

export function metricsRoutes(deps: {
  metrics: ReturnType<typeof apiMetrics>;
  metricsTokens: Map<string, string>;
}): FastifyPluginAsync {
  const requireToken = createMachineAuth(deps.metricsTokens);
  const authorize = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (deps.metricsTokens.size === 0) {
      await reply.code(403).send({ error: 'Forbidden', message: SCRAPE_REFUSED_MESSAGE });
      return;
    }
    await requireToken(request, reply);
  };
  return async (app) => {
    app.get('/metrics', { preHandler: authorize }, async (_request, reply) =>
      reply
        .type(deps.metrics.contentType)
        .header('cache-control', 'no-store')
        .send(await deps.metrics.text()),
    );
  };
}

/** Ingest routes by their URL pattern, and the `source` label each reports as. */
const INGEST_ROUTES: Record<string, string> = {
  '/v1/hl7': 'hl7-https',
  '/v1/fhir': 'fhir',
  '/webhooks/athena': 'athena-webhook',
};

/** Why a request was refused, from its HTTP status (the routes answer each problem with its own status). */
const REFUSAL_BY_STATUS: Record<number, string> = {
  400: 'invalid-message',
  401: 'unauthenticated',
  403: 'forbidden',
  409: 'conflict',
  413: 'too-large',
  415: 'unsupported-media-type',
  422: 'unknown-practice',
  429: 'rate-limited',
};

/** Fastify `onResponse` hook: ACK latency and refusals of the HTTPS ingest routes. */
export function observeIngestResponse(request: FastifyRequest, reply: FastifyReply, done: () => void): void {
  const source = INGEST_ROUTES[request.routeOptions.url ?? ''];
  if (source !== undefined && request.method === 'POST') {
    const status = reply.statusCode;
    const outcome = status < 300 ? 'accepted' : status < 500 ? 'refused' : 'unavailable';
    ingestAckLatency.observe({ source, outcome }, reply.elapsedTime / 1000);
    if (outcome === 'refused') ingestRefusals.inc({ source, reason: REFUSAL_BY_STATUS[status] ?? 'bad-request' });
  }
  done();
}

/** An MLLP message's ingest, timed to its ACK and counted as the HTTPS routes are. */
export async function observeMllpIngest(ingest: () => Promise<Hl7IngestOutcome>): Promise<Hl7IngestOutcome> {
  const started = process.hrtime.bigint();
  const result = await ingest();
  const internal = result.problem?.errorCode === Hl7ErrorCode.APPLICATION_INTERNAL_ERROR;
  const outcome =
    result.code === 'AA' ? (result.duplicate ? 'duplicate' : 'accepted') : internal ? 'unavailable' : 'refused';
  ingestAckLatency.observe({ source: 'hl7-mllp', outcome }, Number(process.hrtime.bigint() - started) / 1e9);
  if (outcome === 'refused')
    ingestRefusals.inc({
      source: 'hl7-mllp',
      reason: result.problem?.unknownPractice === true ? 'unknown-practice' : 'invalid-message',
    });
  return result;
}
