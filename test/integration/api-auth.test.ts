import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildApp, type RegisteredRoute } from '../../api/app';
import type { ApiDeps } from '../../api/deps';
import { HL7_HTTP_BODY_LIMIT_BYTES } from '../../api/routes/hl7';
import { TEST_TOKENS, testApiDeps } from '../support/api-app';

/**
 * Per-route authentication, limits and headers for the whole API as buildApp assembles it. Every
 * registered route must either be on the explicit public list below, with the reason it may be
 * public, or refuse an anonymous request: so a route added later without authentication fails
 * here until someone decides, in review, that it is public.
 */

/** Routes anyone may call, and why. Keep this short; every entry is a decision. */
const PUBLIC_ROUTES: Record<string, string> = {
  'GET /healthz': 'liveness probe; answers {status:"ok"} and nothing else',
  'HEAD /healthz': 'liveness probe (HEAD)',
  'GET /readyz': 'readiness probe; reports only ok/down per dependency',
  'HEAD /readyz': 'readiness probe (HEAD)',
  'GET /review': 'redirects to /review/queue, which requires sign-in',
  'HEAD /review': 'redirect (HEAD)',
  'HEAD /review/': 'redirect (HEAD, trailing slash)',
  'GET /review/static/*': 'stylesheet, htmx and the page script: no data',
  'HEAD /review/static/*': 'static files (HEAD)',
  'GET /review/login': 'the sign-in page',
  'HEAD /review/login': 'the sign-in page (HEAD)',
  'GET /review/auth/sso': 'starts single sign-on (a redirect to the identity provider)',
  'HEAD /review/auth/sso': 'single sign-on start (HEAD)',
  'GET /review/auth/callback': 'the identity provider returns here; state, nonce and PKCE are checked by the route',
  'HEAD /review/auth/callback': 'SSO callback (HEAD)',
  'OPTIONS /codec*':
    'CORS preflight for the Temporal UI; foreign origins get 403 and the calls themselves need a token',
};

/**
 * Webhooks that authenticate the caller by a signature over the request, checked in the route.
 * They are public at the HTTP layer; an unsigned request must still be refused (4xx, never 2xx).
 */
const SIGNED_WEBHOOKS: Record<string, string> = {
  'POST /webhooks/twilio/status': 'X-Twilio-Signature (HMAC-SHA1 over URL and form parameters)',
  'POST /webhooks/athena': 'athena Event Subscription signature (HMAC with ATHENA_WEBHOOK_SECRET)',
};

/** Health probes come from the orchestrator, often from one address, and must never be throttled. */
const RATE_LIMIT_EXEMPT = new Set(['GET /healthz', 'HEAD /healthz', 'GET /readyz', 'HEAD /readyz']);

/** No route may accept more than this (the codec's 4 MiB, sized to Temporal's 2 MiB payload limit). */
const MAX_ROUTE_BODY_LIMIT_BYTES = 4 * 1024 * 1024;

/** Sample values for path parameters that routes validate (so validation does not answer first). */
const SAMPLE_PARAMS: Record<string, string> = {
  workflowId: 'lab-result-195900-0123456789abcdef0123456789abcdef',
};

const key = (r: Pick<RegisteredRoute, 'method' | 'url'>) => `${r.method} ${r.url}`;

function concreteUrl(pattern: string): string {
  return pattern.replace(/:([A-Za-z0-9_]+)/g, (_m, name: string) => SAMPLE_PARAMS[name] ?? 'x').replace(/\*/g, 'x');
}

function refusedAnonymous(response: LightMyRequestResponse): boolean {
  if (response.statusCode === 401 || response.statusCode === 403) return true;
  // A browser page may send an anonymous visitor to sign in instead.
  const location = response.headers.location;
  return (
    (response.statusCode === 302 || response.statusCode === 303) &&
    typeof location === 'string' &&
    /\/(login|sign-?in|auth)\b/.test(location)
  );
}

/** The review app fully configured (single sign-on and the sandbox sign-in), so all its routes exist. */
const REVIEW_SETTINGS: ApiDeps['review'] = {
  sessionSecret: 'review-session-secret-0123456789abcdef',
  idleMinutes: 15,
  secureCookies: false,
  demoLogin: true,
  oidc: { issuerUrl: 'http://127.0.0.1:1/oidc', clientId: 'labloop', clientSecret: 'oidc-client-secret' },
};

async function build(overrides: Partial<ApiDeps> = {}) {
  const deps = testApiDeps({ review: REVIEW_SETTINGS, ...overrides });
  const built = await buildApp(deps);
  return {
    ...built,
    close: async () => {
      await built.app.close();
      await deps.temporal.connection.close();
      await deps.pool.end();
    },
  };
}

describe('API: every route is authenticated or deliberately public', () => {
  let app: FastifyInstance;
  let routes: readonly RegisteredRoute[];
  let close: () => Promise<void>;
  before(async () => {
    ({ app, routes, close } = await build());
    await app.ready();
  });
  after(async () => close?.());

  it('finds the routes (the inventory is not empty and includes the known ones)', () => {
    const keys = new Set(routes.map(key));
    for (const expected of [
      'POST /v1/hl7',
      'GET /v1/results/:workflowId',
      'POST /codec/decode',
      'GET /v1/audit/export',
    ])
      assert.ok(keys.has(expected), `${expected} is registered`);
  });

  it('refuses an anonymous request on every route that is not on the public list', async () => {
    const unprotected: string[] = [];
    for (const route of routes) {
      const k = key(route);
      if (k in PUBLIC_ROUTES || k in SIGNED_WEBHOOKS) continue;
      const response = await app.inject({ method: route.method as 'GET', url: concreteUrl(route.url) });
      if (!refusedAnonymous(response))
        unprotected.push(
          `${k} answered ${response.statusCode} to an anonymous request: ${response.body.slice(0, 120)}`,
        );
    }
    assert.deepEqual(
      unprotected,
      [],
      'Authenticate these routes in a preParsing hook (after the rate limiter, before the body is parsed or validated), ' +
        'or add them to PUBLIC_ROUTES / SIGNED_WEBHOOKS with the reason they may be public.',
    );
  });

  it('refuses an unsigned request on every signed webhook', async () => {
    for (const route of routes.filter((r) => key(r) in SIGNED_WEBHOOKS)) {
      const response = await app.inject({
        method: route.method as 'POST',
        url: concreteUrl(route.url),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: 'MessageSid=SM0123456789abcdef0123456789abcdef&MessageStatus=delivered',
      });
      assert.ok(
        response.statusCode >= 400 && response.statusCode < 500,
        `${key(route)} answered ${response.statusCode} to an unsigned request`,
      );
    }
  });

  it('keeps the public list honest: every entry exists', () => {
    const keys = new Set(routes.map(key));
    for (const k of [...Object.keys(PUBLIC_ROUTES), ...Object.keys(SIGNED_WEBHOOKS)])
      assert.ok(keys.has(k), `${k} is listed as public but no longer registered: remove it`);
  });

  it('rate-limits every route except the health probes, and bounds every body', () => {
    for (const route of routes) {
      const k = key(route);
      assert.equal(route.rateLimited, !RATE_LIMIT_EXEMPT.has(k), `${k}: rate limited`);
      assert.ok(
        route.bodyLimit <= MAX_ROUTE_BODY_LIMIT_BYTES,
        `${k}: body limit ${route.bodyLimit} bytes is too large`,
      );
    }
  });

  it('does not let an ingest token into the privileged routes', async () => {
    const ingest = { authorization: `Bearer ${TEST_TOKENS.ingest}` };
    assert.equal((await app.inject({ method: 'GET', url: '/v1/audit/export', headers: ingest })).statusCode, 401);
    assert.equal(
      (await app.inject({ method: 'POST', url: '/codec/decode', headers: ingest, payload: { payloads: [] } }))
        .statusCode,
      401,
    );
  });

  it('answers 413 to an oversize body before handling it', async () => {
    const hl7 = await app.inject({
      method: 'POST',
      url: '/v1/hl7',
      headers: { authorization: `Bearer ${TEST_TOKENS.ingest}`, 'content-type': 'application/hl7-v2' },
      payload: 'MSH|'.padEnd(HL7_HTTP_BODY_LIMIT_BYTES + 1, 'x'),
    });
    assert.equal(hl7.statusCode, 413, hl7.body);
    const webhook = await app.inject({
      method: 'POST',
      url: '/webhooks/twilio/status',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: `Body=${'x'.repeat(64 * 1024)}`,
    });
    assert.equal(webhook.statusCode, 413, webhook.body);
  });

  it('sends the security headers on every kind of answer', async () => {
    const answers = [
      await app.inject({ method: 'GET', url: '/healthz' }),
      await app.inject({ method: 'GET', url: '/v1/audit/export' }),
      await app.inject({ method: 'GET', url: '/no/such/route' }),
    ];
    for (const response of answers) {
      const csp = String(response.headers['content-security-policy']);
      assert.match(csp, /default-src 'self'/);
      assert.match(csp, /frame-ancestors 'self'/);
      assert.equal(response.headers['x-content-type-options'], 'nosniff');
      assert.equal(response.headers['x-frame-options'], 'SAMEORIGIN');
      // Served over plain http here: HSTS would be meaningless.
      assert.equal(response.headers['strict-transport-security'], undefined);
      assert.equal(response.headers['x-powered-by'], undefined);
    }
  });
});

describe('API: limits and headers that depend on configuration', () => {
  it('throttles an anonymous burst on every rate-limited route, before authentication can answer it', async () => {
    // Authentication in a route-level onRequest hook runs ahead of the limiter's own onRequest hook,
    // so refused callers would never be counted: token guessing would be unlimited.
    const { routes } = await build().then(async (b) => {
      await b.close();
      return b;
    });
    const unthrottled: string[] = [];
    for (const route of routes.filter((r) => r.rateLimited)) {
      const { app, close } = await build({ rateLimit: { max: 2, timeWindowMs: 60_000 } });
      try {
        const probe = { method: route.method as 'GET', url: concreteUrl(route.url) };
        const statuses: number[] = [];
        for (let i = 0; i < 3; i++) statuses.push((await app.inject(probe)).statusCode);
        if (statuses[2] !== 429) unthrottled.push(`${key(route)}: ${statuses.join(',')}`);
      } finally {
        await close();
      }
    }
    assert.deepEqual(unthrottled, [], 'routes whose third anonymous request within the budget of 2 was not a 429');
  });

  it('answers 429 once a client exceeds the configured budget, on authenticated, privileged and webhook routes alike', async () => {
    const probes = [
      { method: 'GET' as const, url: '/v1/results/lab-result-195900-0123456789abcdef0123456789abcdef' },
      { method: 'POST' as const, url: '/codec/decode' },
      { method: 'GET' as const, url: '/v1/audit/export' },
      { method: 'POST' as const, url: '/webhooks/twilio/status' },
    ];
    // One app per probe: the budget is per client across all routes.
    for (const probe of probes) {
      const { app, close } = await build({ rateLimit: { max: 3, timeWindowMs: 60_000 } });
      try {
        const statuses: number[] = [];
        for (let i = 0; i < 5; i++) statuses.push((await app.inject(probe)).statusCode);
        const label = `${probe.method} ${probe.url}: ${statuses.join(',')}`;
        assert.ok(!statuses.slice(0, 3).includes(429), `${label}: the first 3 pass the limiter`);
        assert.deepEqual(statuses.slice(3), [429, 429], label);
        const limited = await app.inject(probe);
        assert.ok(Number(limited.headers['retry-after']) > 0, 'Retry-After tells the client when to come back');
        // Health probes are exempt.
        for (let i = 0; i < 6; i++)
          assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
      } finally {
        await close();
      }
    }
  });

  it('sends HSTS when the API is served over https', async () => {
    const { app, close } = await build({ publicBaseUrl: 'https://labloop.example.org' });
    try {
      const response = await app.inject({ method: 'GET', url: '/healthz' });
      assert.match(String(response.headers['strict-transport-security']), /max-age=31536000; includeSubDomains/);
    } finally {
      await close();
    }
  });
});
