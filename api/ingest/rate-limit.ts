import type { FastifyInstance, onRequestAsyncHookHandler, onResponseAsyncHookHandler } from 'fastify';
import type { RateLimitOptions } from '@fastify/rate-limit';

/**
 * Rate limits of the machine ingestion routes (`/v1/hl7`, `/v1/fhir`, `/webhooks/athena`). The
 * API's global limit (per IP, before anything else) would answer an interface engine's burst, or a
 * backlog replayed after an outage, with 429 instead of an ACK, and every such engine sits behind one
 * address. So these routes are limited in two parts:
 * - per IP, only by requests that were never authenticated (wrong or missing token or signature,
 *   and anything refused before authentication could run: wrong content type, oversize body). An
 *   address that has spent the global budget's worth of those in the window is refused before its
 *   request is even read, so token or signature guessing stays as bounded as anywhere else. While it
 *   is refused, so are its authenticated requests: that is what keeps guessing bounded;
 * - after authentication, per authenticated client (the token's name; athena for a valid
 *   signature), with a budget far above what one engine sends, so a runaway client is still bounded
 *   but a busy one never loses an ACK to the limiter.
 */

/**
 * Requests a minute one authenticated client may send to one ingestion route: 100 a second. A
 * hand-off takes tens of milliseconds, so one engine connection delivers well under that; the budget
 * only stops a client that is looping.
 */
export const INGEST_CLIENT_RATE_LIMIT_PER_MINUTE = 6_000;
/** An authenticated client's budget is never below this multiple of the global per-IP budget. */
const INGEST_TO_GLOBAL_BUDGET_RATIO = 10;

export interface IngestRateLimitSettings {
  /** Requests per IP per window that never authenticated, before the address is refused outright. */
  unauthenticatedMax: number;
  /** Requests per authenticated client per window and route. */
  authenticatedMax: number;
  timeWindowMs: number;
}

/** The authenticated client's budget for a given global budget, unless configured explicitly. */
export function ingestClientBudget(globalMax: number, configured?: number): number {
  return configured ?? Math.max(INGEST_CLIENT_RATE_LIMIT_PER_MINUTE, globalMax * INGEST_TO_GLOBAL_BUDGET_RATIO);
}

/** Spread into a route's options: `app.post(path, { ...rateLimit, preHandler, bodyLimit }, handler)`. */
export interface IngestRateLimit {
  /** Route `config`: the limiter runs as a preHandler after authentication, keyed by the client. */
  config: { rateLimit: RateLimitOptions };
  /** Route `onRequest`: refuses an address over its unauthenticated budget before anything is read. */
  onRequest: onRequestAsyncHookHandler;
  /** Route `onResponse`: counts a request that ended without authenticating against its address. */
  onResponse: onResponseAsyncHookHandler;
}

/**
 * Needs @fastify/rate-limit registered on `app` (it provides `createRateLimit`). The route's
 * authentication must set `request.machineClient` when it lets a request through.
 */
export function createIngestRateLimit(app: FastifyInstance, settings: IngestRateLimitSettings): IngestRateLimit {
  const unauthenticated = app.createRateLimit({
    max: settings.unauthenticatedMax,
    timeWindow: settings.timeWindowMs,
    keyGenerator: (request) => `unauthenticated:${request.ip}`,
  });
  return {
    config: {
      rateLimit: {
        hook: 'preHandler',
        max: settings.authenticatedMax,
        timeWindow: settings.timeWindowMs,
        // Runs only after authentication let the request through, so the client is always known.
        keyGenerator: (request) => `client:${request.machineClient ?? request.ip}`,
      },
    },
    async onRequest(request, reply) {
      const seen = await unauthenticated(request, { increment: false });
      if (seen.isAllowed || seen.remaining > 0) return;
      const retryAfter = Math.max(1, seen.ttlInSeconds);
      await reply
        .code(429)
        .header('retry-after', String(retryAfter))
        .send({
          error: 'Too Many Requests',
          message: `too many unauthenticated requests from this address; retry in ${retryAfter} s`,
        });
    },
    async onResponse(request) {
      if (request.machineClient === undefined) await unauthenticated(request);
    },
  };
}
