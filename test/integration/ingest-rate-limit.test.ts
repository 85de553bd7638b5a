import assert from 'node:assert/strict';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { buildApp } from '../../api/app';
import { TEST_TOKENS, testApiDeps } from '../support/api-app';
import {
  ATHENA_WEBHOOK_SECRET,
  AUTH,
  fhirFixture,
  hl7Fixture,
  PRACTICE_ID,
  startIngestHarness,
  type IngestHarness,
} from './ingest-harness';

/**
 * The machine ingestion routes under load, with the API's default budget of 600 per IP (over a
 * ten-minute window here, so a slow, shared test machine cannot let the window reset mid-burst):
 * an interface engine's burst of authenticated messages gets its ACKs (the per-IP budget does not
 * apply once the client is authenticated), while a flood of unauthenticated requests from one address
 * is still refused with 429, and an authenticated client's own budget still bounds a runaway client.
 */

/** More than the per-IP budget, sent inside one window. */
const BURST = 1_000;
const GLOBAL_BUDGET = 600;
const WINDOW_MS = 10 * 60_000;
const LIMITS = { rateLimit: { max: GLOBAL_BUDGET, timeWindowMs: WINDOW_MS } };

function signed(body: string, secret = ATHENA_WEBHOOK_SECRET): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** A signed notification whose only event is of a topic we do not ingest: answered 200 without Temporal. */
function heartbeat(): string {
  return JSON.stringify({
    resourceType: 'Bundle',
    id: randomUUID(),
    type: 'history',
    timestamp: new Date().toISOString(),
    entry: [
      {
        fullUrl: `urn:uuid:${randomUUID()}`,
        resource: {
          resourceType: 'SubscriptionStatus',
          status: 'active',
          type: 'event-notification',
          topic: 'https://athena.example/fhir/r4/SubscriptionTopic/Patient.update',
          notificationEvent: [
            {
              id: randomUUID(),
              timestamp: new Date().toISOString(),
              focus: { identifier: { system: `urn:athenahealth:athenanet:patient:${PRACTICE_ID}`, value: '1' } },
            },
          ],
        },
      },
    ],
  });
}

async function statuses(count: number, send: () => Promise<{ statusCode: number }>): Promise<Map<number, number>> {
  const seen = new Map<number, number>();
  for (let i = 0; i < count; i++) {
    const { statusCode } = await send();
    seen.set(statusCode, (seen.get(statusCode) ?? 0) + 1);
  }
  return seen;
}

void describe('ingestion routes: rate limits for machines', () => {
  let h: IngestHarness;
  before(async () => {
    h = await startIngestHarness({ label: 'ingest_rate_limit', athenaWebhookSecret: ATHENA_WEBHOOK_SECRET });
  });
  after(async () => {
    await h?.close();
  });

  void it(`${BURST} authenticated HL7 posts in one window of a ${GLOBAL_BUDGET}-request budget all get their AA; then an unauthenticated flood is refused with 429`, async () => {
    const { app } = await h.buildApi(LIMITS);
    const t = randomBytes(4).toString('hex');
    const message = hl7Fixture('cbc-normal-final', { controlId: `BURST-${t}`, tag: t });
    const started = Date.now();
    const acks = new Map<string, number>();
    const seen = await statuses(BURST, async () => {
      const response = await app.inject({
        method: 'POST',
        url: '/v1/hl7',
        headers: { ...AUTH, 'content-type': 'application/hl7-v2' },
        payload: message,
      });
      const code = /\rMSA\|(A[AER])\|/.exec(response.body)?.[1] ?? `HTTP ${response.statusCode}`;
      acks.set(code, (acks.get(code) ?? 0) + 1);
      return response;
    });
    assert.ok(Date.now() - started < WINDOW_MS, 'the burst fits in one window');
    assert.deepEqual([...seen], [[202, BURST]], 'no 429 for an authenticated engine');
    assert.deepEqual([...acks], [['AA', BURST]]);

    // The same address without a valid token: the per-IP budget still holds for it.
    const flood = await statuses(GLOBAL_BUDGET + 50, () =>
      app.inject({
        method: 'POST',
        url: '/v1/hl7',
        headers: { authorization: 'Bearer not-a-token', 'content-type': 'application/hl7-v2' },
        payload: message,
      }),
    );
    assert.deepEqual(
      [...flood],
      [
        [401, GLOBAL_BUDGET],
        [429, 50],
      ],
    );
    const refused = await app.inject({ method: 'POST', url: '/v1/hl7', payload: message });
    assert.equal(refused.statusCode, 429);
    assert.ok(Number(refused.headers['retry-after']) > 0, 'Retry-After says when to come back');
  });

  void it(`${BURST} authenticated FHIR posts in one window are not refused`, async () => {
    const { app } = await h.buildApi(LIMITS);
    const body = JSON.stringify(fhirFixture('diagnostic-report-contained')).replace(
      /FIL-/g,
      `FIL-${randomBytes(4).toString('hex')}-`,
    );
    const started = Date.now();
    const seen = await statuses(BURST, () =>
      app.inject({
        method: 'POST',
        url: `/v1/fhir?practice=${PRACTICE_ID}`,
        headers: { ...AUTH, 'content-type': 'application/fhir+json' },
        payload: body,
      }),
    );
    assert.ok(Date.now() - started < WINDOW_MS);
    assert.deepEqual([...seen], [[202, BURST]]);
    // Refused before authentication could even run (no content type): counted all the same.
    const flood = await statuses(GLOBAL_BUDGET + 1, () =>
      app.inject({ method: 'POST', url: `/v1/fhir?practice=${PRACTICE_ID}`, payload: body }),
    );
    assert.deepEqual(
      [...flood],
      [
        [415, GLOBAL_BUDGET],
        [429, 1],
      ],
    );
  });

  void it(`${BURST} signed athena webhooks in one window are answered; unsigned ones are throttled`, async () => {
    const { app } = await h.buildApi(LIMITS);
    const started = Date.now();
    const seen = await statuses(BURST, () => {
      const body = heartbeat();
      return app.inject({
        method: 'POST',
        url: '/webhooks/athena',
        headers: { 'content-type': 'application/fhir+json', 'x-hub-signature': signed(body) },
        payload: body,
      });
    });
    assert.ok(Date.now() - started < WINDOW_MS);
    assert.deepEqual([...seen], [[200, BURST]]);
    const flood = await statuses(GLOBAL_BUDGET + 1, () => {
      const body = heartbeat();
      return app.inject({
        method: 'POST',
        url: '/webhooks/athena',
        headers: { 'content-type': 'application/fhir+json', 'x-hub-signature': signed(body, 'guessed-secret-0123') },
        payload: body,
      });
    });
    assert.deepEqual(
      [...flood],
      [
        [401, GLOBAL_BUDGET],
        [429, 1],
      ],
    );
  });

  void it('an authenticated client still has a budget of its own', async () => {
    const { app } = await buildApp(testApiDeps({ ingestRateLimitPerClient: 3 }));
    try {
      const seen = await statuses(5, () =>
        app.inject({
          method: 'POST',
          url: '/v1/hl7',
          headers: { authorization: `Bearer ${TEST_TOKENS.ingest}`, 'content-type': 'application/hl7-v2' },
          payload: 'not HL7',
        }),
      );
      // Refused as HL7 (AR, 400), but answered, until the client's own budget of 3 is spent.
      assert.deepEqual(
        [...seen],
        [
          [400, 3],
          [429, 2],
        ],
      );
    } finally {
      await app.close();
    }
  });
});
