import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { SpruceResultRequest } from '../../activities/contract';
import { PENDING_ID_PREFIX } from '../../activities/outbox';
import { buildApp } from '../../api/app';
import { getSmsConsent, setSmsConsent } from '../../lib/consent/repository';
import type { WorkflowSignaller } from '../../lib/consent/workflow-signaller';
import { freePort } from '../../lib/free-port';
import { signSpruceWebhook, startSpruceFake, type SpruceFake } from '../../sandbox/fakes/spruce';
import { testApiDeps } from '../support/api-app';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { spruceActivitiesForFake } from '../support/channel-activities';

/**
 * Spruce webhooks through the running API: the Spruce fake posts signed `conversationItem.created`
 * events for our posts and for patient replies to `/webhooks/spruce` over real HTTP. Verified on the
 * raw body, deduplicated on re-delivery, stale updates ignored, and turned into signals (recorded at
 * the Temporal boundary) and, for a revocation written in Spruce, an SMS consent change.
 */

const TOKEN = 'spruce-webhook-token';
const PRACTICE = '195900';

interface Signalled {
  workflowId: string;
  signal: string;
  arg: Record<string, unknown>;
}

describe('Spruce webhooks through the API', () => {
  let db: TestDatabase;
  let fake: SpruceFake;
  let app: FastifyInstance;
  let base: string;
  let activities: ReturnType<typeof spruceActivitiesForFake>;
  const signals: Signalled[] = [];
  let seq = 0;

  before(async () => {
    db = await createTestDatabase('spruce_webhooks');
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    fake = await startSpruceFake({ token: TOKEN, webhookUrl: `${base}/webhooks/spruce` });
    const signaller: WorkflowSignaller = {
      signal(workflowId, definition, ...args) {
        signals.push({ workflowId, signal: definition.name, arg: args[0] as Record<string, unknown> });
        return Promise.resolve(true);
      },
    };
    ({ app } = await buildApp(
      testApiDeps({ pool: db.pool, publicBaseUrl: base, spruceWebhookSecret: fake.webhookSecret, signaller }),
    ));
    await app.listen({ host: '127.0.0.1', port });
    activities = spruceActivitiesForFake(db.pool, { spruceApiBaseUrl: fake.apiBaseUrl, token: TOKEN, timeoutMs: 500 });
  });
  afterEach(async () => {
    await fake.idle();
  });
  after(async () => {
    await fake?.close();
    await app?.close();
    await db?.close();
  });

  /** A patient with a Spruce account, an open workflow and SMS consent on one number. */
  async function patient() {
    seq += 1;
    const patientId = `sw-${seq}`;
    const phone = `+1555070${String(1000 + seq).slice(-4)}`;
    const contact = fake.seedContact({
      givenName: 'Kim',
      familyName: `Lowe${seq}`,
      phone,
      externalId: patientId,
      hasSpruceAccount: true,
    });
    const workflowId = `lab-result-${PRACTICE}-${String(seq).padStart(32, '9')}`;
    await db.pool.query(
      `INSERT INTO workflow_patient (workflow_id, practice_id, patient_id, phone_e164) VALUES ($1, $2, $3, $4)`,
      [workflowId, PRACTICE, patientId, phone],
    );
    await setSmsConsent(db.pool, { practiceId: PRACTICE, patientId, phone, consented: true, source: 'staff' });
    const request: SpruceResultRequest = {
      workflowId,
      resultVersion: 1,
      step: 'spruce-result',
      practiceId: PRACTICE,
      practiceName: 'Riverside Family Medicine',
      result: {
        source: 'athena',
        practiceId: PRACTICE,
        resultId: `r-${seq}`,
        messageId: 'm',
        status: 'final',
        patient: { id: patientId, firstName: 'Kim', lastName: `Lowe${seq}`, mobilePhone: phone },
        observations: [{ code: '718-7', name: 'Hemoglobin', value: '13.1', units: 'g/dL' }],
      },
      schedulingUrl: '',
      updated: false,
    };
    return { patientId, phone, contact, workflowId, request };
  }
  const signalsTo = (workflowId: string, name: string) =>
    signals.filter((s) => s.workflowId === workflowId && s.signal === name);

  async function postEvent(body: string, signature: string | undefined) {
    const response = await fetch(`${base}/webhooks/spruce`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(signature !== undefined ? { 'x-spruce-signature': signature } : {}),
      },
      body,
    });
    return { status: response.status, json: (await response.json()) as { result?: string } };
  }

  it('our posted message comes back as conversationItem.created: "sent" is signalled to the workflow that sent it', async () => {
    const p = await patient();
    const sent = await activities.sendSpruceResult(p.request);
    await fake.idle();
    assert.deepEqual(
      signalsTo(p.workflowId, 'deliveryStatus').map((s) => [s.arg.channel, s.arg.providerMessageId, s.arg.status]),
      [['spruce', sent.messageRef, 'sent']],
    );
    const { rows } = await db.pool.query(`SELECT delivery_status FROM outbox WHERE workflow_id = $1`, [p.workflowId]);
    assert.deepEqual(rows, [{ delivery_status: 'sent' }]);
  });

  it('re-delivered webhooks are acted on once', async () => {
    const p = await patient();
    fake.setWebhookBehaviour({ duplicate: true });
    await activities.sendSpruceResult(p.request);
    await fake.idle();
    fake.setWebhookBehaviour({ duplicate: false });
    assert.ok(
      fake.webhookAttempts().some((a) => a.duplicate),
      'the fake did send the event twice',
    );
    assert.equal(signalsTo(p.workflowId, 'deliveryStatus').length, 1);
  });

  it('refuses a missing or wrong X-Spruce-Signature and a body changed after signing', async () => {
    const body = JSON.stringify({
      object: 'event',
      type: 'conversationItem.created',
      eventTime: new Date().toISOString(),
      data: { object: {} },
    });
    assert.equal((await postEvent(body, undefined)).status, 403);
    assert.equal((await postEvent(body, signSpruceWebhook('some-other-secret-123456', body))).status, 403);
    assert.equal((await postEvent(`${body} `, signSpruceWebhook(fake.webhookSecret, body))).status, 403);
    assert.equal(
      (await postEvent(body, signSpruceWebhook(fake.webhookSecret, body))).status,
      400,
      'signed but not an item',
    );
  });

  it("a patient's reply reaches their open workflow; a revocation written in Spruce revokes SMS consent", async () => {
    const p = await patient();
    await activities.sendSpruceResult(p.request);
    await fake.idle();
    await fake.simulatePatientReply({ contactId: p.contact.id, text: 'Thanks, see you next week' });
    assert.deepEqual(
      signalsTo(p.workflowId, 'patientReply').map((s) => [s.arg.channel, s.arg.kind]),
      [['spruce', 'text']],
    );
    assert.equal(await getSmsConsent(db.pool, { practiceId: PRACTICE, patientId: p.patientId, phone: p.phone }), true);

    await fake.simulatePatientReply({ contactId: p.contact.id, text: 'Please stop texting me, I only read this app' });
    assert.equal(await getSmsConsent(db.pool, { practiceId: PRACTICE, patientId: p.patientId, phone: p.phone }), false);
    assert.deepEqual(
      signalsTo(p.workflowId, 'consentChanged').map((s) => [s.arg.smsConsent, s.arg.source]),
      [[false, 'free-text']],
    );
    assert.deepEqual(
      signalsTo(p.workflowId, 'patientReply').map((s) => s.arg.kind),
      ['text', 'stop'],
    );
    const { rows } = await db.pool.query<{ channel: string; details: { source: string } }>(
      `SELECT channel, details FROM audit_log WHERE patient_id = $1 AND action = 'consent-change'`,
      [p.patientId],
    );
    assert.deepEqual(
      rows.map((r) => [r.channel, r.details.source]),
      [['spruce', 'free-text']],
    );
  });

  it('an older update arriving after a newer one (by eventTime) is ignored as stale', async () => {
    const p = await patient();
    await activities.sendSpruceResult(p.request);
    await fake.idle();
    const { conversationId } = await fake.simulatePatientReply({ contactId: p.contact.id, text: 'hello' });
    const item = (time: string) => ({
      object: 'event',
      type: 'conversationItem.updated',
      eventTime: time,
      data: {
        object: {
          id: 'ti_STALETEST',
          conversationId,
          direction: 'inbound',
          isInternalNote: false,
          text: 'hello (edited)',
          createdAt: time,
          attachments: [],
          pages: [],
        },
      },
    });
    const newer = JSON.stringify(item('2030-01-01T10:00:05.000Z'));
    const older = JSON.stringify(item('2030-01-01T10:00:01.000Z'));
    const before = signalsTo(p.workflowId, 'patientReply').length;
    assert.equal((await postEvent(newer, signSpruceWebhook(fake.webhookSecret, newer))).json.result, 'reply');
    const stale = await postEvent(
      older.replace('edited', 'edited again'),
      signSpruceWebhook(fake.webhookSecret, older.replace('edited', 'edited again')),
    );
    assert.equal(stale.status, 200, 'acknowledged, so Spruce does not retry it');
    assert.equal(stale.json.result, 'stale');
    assert.equal(signalsTo(p.workflowId, 'patientReply').length, before + 1);
  });

  it('a post whose answer was lost is recorded as pending and adopts its real ID when the (late) webhook arrives', async () => {
    const p = await patient();
    fake.holdWebhooks();
    fake.failNext({ kind: 'reset', afterProcessing: true }, 1, { path: '/messages$' });
    await assert.rejects(activities.sendSpruceResult(p.request));
    const retried = await activities.sendSpruceResult(p.request);
    assert.ok(retried.messageRef.startsWith(PENDING_ID_PREFIX));
    await fake.idle();
    fake.releaseWebhooks({ reverse: true });
    await fake.idle();
    const item = fake.items().find((i) => i.conversationId === retried.conversationId && i.kind === 'secure-message');
    assert.ok(item !== undefined);
    const { rows } = await db.pool.query(
      `SELECT provider_message_id, delivery_status FROM outbox WHERE workflow_id = $1`,
      [p.workflowId],
    );
    assert.deepEqual(rows, [{ provider_message_id: item.requestId, delivery_status: 'sent' }]);
    assert.deepEqual(
      signalsTo(p.workflowId, 'deliveryStatus').map((s) => s.arg.providerMessageId),
      [item.requestId],
    );
  });
});
