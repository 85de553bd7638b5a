import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { buildApp, VENDOR_WEBHOOK_RATE_LIMIT_PER_MINUTE } from '../../api/app';
import { signSpruceWebhook } from '../../sandbox/fakes/spruce';
import { signTwilioWebhook } from '../../sandbox/fakes/twilio';
import { testApiDeps } from '../support/api-app';

/**
 * The vendor webhooks under load. The API's global budget is per IP and counts everything; a busy
 * Twilio sender's status callbacks (one sender at 20 segments/s makes up to 80 a second) would
 * spend it in seconds and lose callbacks to 429. So a request whose signature verifies is counted
 * against its own, much higher, per-route budget instead, while requests that fail the signature
 * still spend the per-IP budget and an unauthenticated flood is refused. The requests here are
 * signed but invalid (a 400 after verification), so nothing needs a database.
 */

const GLOBAL_BUDGET = 5;
const VENDOR_BUDGET = 40;
/** Ten minutes, so a slow shared machine cannot let a window reset mid-test. */
const WINDOW_MS = 10 * 60_000;
const PUBLIC_BASE = 'http://127.0.0.1:3000';
const TWILIO_TOKEN = 'rate-limit-twilio-token-0123456789';
const SPRUCE_SECRET = 'rate-limit-spruce-secret-0123456789';

describe('vendor webhooks: their own budget after the signature check', () => {
  let app: FastifyInstance;
  before(async () => {
    ({ app } = await buildApp(
      testApiDeps({
        publicBaseUrl: PUBLIC_BASE,
        twilioAuthToken: TWILIO_TOKEN,
        spruceWebhookSecret: SPRUCE_SECRET,
        rateLimit: { max: GLOBAL_BUDGET, timeWindowMs: WINDOW_MS },
        vendorWebhookRateLimitPerRoute: VENDOR_BUDGET,
      }),
    ));
  });
  after(async () => {
    await app?.close();
  });

  const twilio = (path: string, params: Record<string, string>, signed = true) =>
    app.inject({
      method: 'POST',
      url: path,
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        ...(signed ? { 'x-twilio-signature': signTwilioWebhook(TWILIO_TOKEN, `${PUBLIC_BASE}${path}`, params) } : {}),
      },
      payload: new URLSearchParams(params).toString(),
    });
  /** A verified callback the route then refuses (not a status): no database touched. */
  const statusCallback = (signed = true) =>
    twilio(
      '/webhooks/twilio/status',
      { MessageSid: `SM${randomBytes(16).toString('hex')}`, MessageStatus: 'bogus' },
      signed,
    );
  const spruce = (body: string, signed = true) =>
    app.inject({
      method: 'POST',
      url: '/webhooks/spruce',
      headers: {
        'content-type': 'application/json',
        ...(signed ? { 'x-spruce-signature': signSpruceWebhook(SPRUCE_SECRET, body) } : {}),
      },
      payload: body,
    });
  async function statuses(count: number, send: () => Promise<{ statusCode: number }>) {
    const seen = new Map<number, number>();
    for (let i = 0; i < count; i++) {
      const { statusCode } = await send();
      seen.set(statusCode, (seen.get(statusCode) ?? 0) + 1);
    }
    return Object.fromEntries(seen);
  }

  it('the production budget covers ten 20-segment/s senders: 4 callbacks a message, 60 s a minute', () => {
    assert.ok(VENDOR_WEBHOOK_RATE_LIMIT_PER_MINUTE >= 10 * 20 * 4 * 60);
  });

  it(`verified Twilio callbacks go past the ${GLOBAL_BUDGET}-request per-IP budget, up to their own per route`, async () => {
    assert.deepEqual(await statuses(VENDOR_BUDGET, () => statusCallback()), { 400: VENDOR_BUDGET });
    const over = await statusCallback();
    assert.equal(over.statusCode, 429, 'a runaway sender is still bounded');
    // The inbound route has a budget of its own.
    const inbound = await statuses(GLOBAL_BUDGET * 3, () =>
      twilio('/webhooks/twilio/inbound', { MessageSid: `SM${randomBytes(16).toString('hex')}`, From: 'x', To: 'y' }),
    );
    assert.deepEqual(inbound, { 400: GLOBAL_BUDGET * 3 });
  });

  it('verified Spruce webhooks go past the per-IP budget too', async () => {
    assert.deepEqual(await statuses(GLOBAL_BUDGET * 3, () => spruce('not json')), { 400: GLOBAL_BUDGET * 3 });
  });

  it('requests failing the signature spend the per-IP budget: a flood is refused with 429', async () => {
    assert.deepEqual(await statuses(GLOBAL_BUDGET, () => statusCallback(false)), { 403: GLOBAL_BUDGET });
    const flooded = await statusCallback(false);
    assert.equal(flooded.statusCode, 429);
    assert.ok(Number(flooded.headers['retry-after']) >= 1);
    assert.equal((await spruce('{}', false)).statusCode, 429, 'the same address, on the other vendor route');
  });
});
