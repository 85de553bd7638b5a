import assert from 'node:assert/strict';
import { createHmac, randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { buildApp } from '../../api/app';
import { parseSenderRegistry } from '../../lib/senders';
import { testApiDeps } from '../support/api-app';

/**
 * athena is a sender like any other: its webhook secret proves it is athena, and the sender registry
 * says for which practices it may send. An event for another practice is refused (403) before
 * anything is started; without an athena sender the webhook is not configured (503).
 */
const SECRET = 'athena-webhook-secret-0123456789';

function notification(athenaPracticeId: string): string {
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
          topic: 'https://athena.example/fhir/r4/SubscriptionTopic/LabResult.create',
          notificationEvent: [
            {
              id: randomUUID(),
              timestamp: new Date().toISOString(),
              focus: {
                identifier: { system: `urn:athenahealth:athenanet:labresult:${athenaPracticeId}`, value: '880104' },
              },
              additionalContext: [
                {
                  reference: `Patient/a-${athenaPracticeId}.E-4100`,
                  identifier: { system: `urn:athenahealth:athenanet:patient:${athenaPracticeId}`, value: '4100' },
                },
              ],
            },
          ],
        },
      },
    ],
  });
}

const post = (app: Awaited<ReturnType<typeof buildApp>>['app'], body: string) =>
  app.inject({
    method: 'POST',
    url: '/webhooks/athena',
    headers: {
      'content-type': 'application/fhir+json',
      'x-hub-signature': `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`,
    },
    payload: body,
  });

void describe('athena webhooks: the athena sender’s practices', () => {
  void it('an event for a practice the athena sender may not send for is refused with 403, naming it', async () => {
    const senders = parseSenderRegistry({
      senders: [
        { id: 'engine', token: 'ingest-client', practices: ['195900'], operations: ['ingest'] },
        { id: 'athena', athenaWebhook: true, practices: ['another-practice'], operations: ['ingest'] },
      ],
    });
    const { app } = await buildApp(testApiDeps({ athenaWebhookSecret: SECRET, senders }));
    try {
      // The Temporal client of testApiDeps connects nowhere: a start would fail loudly, not 403.
      const response = await post(app, notification('195900'));
      assert.equal(response.statusCode, 403, response.body);
      assert.match(response.body, /sender athena may not send for athena practice 195900/);
    } finally {
      await app.close();
    }
  });

  void it('without an athena sender in the registry the webhook is not configured (503)', async () => {
    const senders = parseSenderRegistry({
      senders: [{ id: 'engine', token: 'ingest-client', practices: ['195900'], operations: ['ingest'] }],
    });
    const { app } = await buildApp(testApiDeps({ athenaWebhookSecret: SECRET, senders }));
    try {
      const response = await post(app, notification('195900'));
      assert.equal(response.statusCode, 503);
      assert.match(response.body, /no sender with athenaWebhook/);
    } finally {
      await app.close();
    }
  });
});
