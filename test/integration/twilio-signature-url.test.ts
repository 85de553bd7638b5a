import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../api/app';
import { publicUrl } from '../../lib/public-url';
import { signTwilioWebhook } from '../../sandbox/fakes/twilio';
import { testApiDeps } from '../support/api-app';
import { NO_SIGNALS } from '../support/channel-activities';
import { createTestDatabase, type TestDatabase } from '../support/database';

/**
 * X-Twilio-Signature behind a proxy that serves labloop under a path: Twilio signs the URL it was
 * given (`PUBLIC_BASE_URL` with its path, the route, the query), while the app sees only the route.
 * The signature must be checked over the former, and callback URLs handed to Twilio must keep it.
 */

const AUTH_TOKEN = 'prefix-test-token-0123456789';
const BASE = 'https://clinic.example.org/labloop/';

describe('Twilio signatures under a PUBLIC_BASE_URL with a path prefix', () => {
  let db: TestDatabase;
  let app: FastifyInstance;

  before(async () => {
    db = await createTestDatabase('twilio_signature_url');
    ({ app } = await buildApp(
      testApiDeps({ pool: db.pool, publicBaseUrl: BASE, twilioAuthToken: AUTH_TOKEN, signaller: NO_SIGNALS }),
    ));
  });
  after(async () => {
    await app?.close();
    await db?.close();
  });

  it('publicUrl keeps the base path (new URL(path, base) would drop it)', () => {
    assert.equal(
      publicUrl(BASE, '/webhooks/twilio/status?x=1'),
      'https://clinic.example.org/labloop/webhooks/twilio/status?x=1',
    );
    assert.equal(
      publicUrl('https://clinic.example.org', '/webhooks/twilio/status'),
      'https://clinic.example.org/webhooks/twilio/status',
    );
    assert.notEqual(new URL('/webhooks/twilio/status', BASE).toString(), publicUrl(BASE, '/webhooks/twilio/status'));
  });

  it('accepts a callback signed over the prefixed URL, and refuses one signed over the bare route', async () => {
    const params = {
      AccountSid: `AC${'1'.repeat(32)}`,
      MessageSid: `SM${randomBytes(16).toString('hex')}`,
      MessageStatus: 'delivered',
    };
    const post = (signedUrl: string) =>
      app.inject({
        method: 'POST',
        url: '/webhooks/twilio/status?practice=p1',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'x-twilio-signature': signTwilioWebhook(AUTH_TOKEN, signedUrl, params),
        },
        payload: new URLSearchParams(params).toString(),
      });
    const bare = await post('https://clinic.example.org/webhooks/twilio/status?practice=p1');
    assert.equal(bare.statusCode, 403, 'the URL Twilio called has the prefix');
    const prefixed = await post('https://clinic.example.org/labloop/webhooks/twilio/status?practice=p1');
    // Verified; the SID is unknown, so the report is parked and acknowledged.
    assert.equal(prefixed.statusCode, 204);
    const { rows } = await db.pool.query(`SELECT status FROM unmatched_delivery_event WHERE provider_message_id = $1`, [
      params.MessageSid,
    ]);
    assert.deepEqual(rows, [{ status: 'delivered' }]);
  });
});
