import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { SpruceResultRequest } from '../../domain/activity-contract';
import { PENDING_ID_PREFIX } from '../../lib/outbox/outbox';
import { buildApp } from '../../api/app';
import { getSmsConsent, setSmsConsent } from '../../lib/consent/repository';
import type { WorkflowSignaller } from '../../lib/consent/workflow-signaller';
import { freePort } from '../../sandbox/servers/free-port';
import { signSpruceWebhook, startSpruceFake, type SpruceFake } from '../../sandbox/fakes/spruce';
import { testApiDeps } from '../support/api-app';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { createSpruceActivities } from '../../activities/spruce';
import { createAuditLog } from '../../lib/audit';
import { createSpruceClient } from '../../lib/clients/spruce';
import { loadPracticeRegistry } from '../../lib/practices';
import { DEFAULT_SECURE_ENDPOINT_ID } from '../../sandbox/fakes/spruce';
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
  let workerSignaller: WorkflowSignaller;
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
    activities = spruceActivitiesForFake(db.pool, {
      spruceApiBaseUrl: fake.apiBaseUrl,
      token: TOKEN,
      timeoutMs: 500,
      signaller,
    });
    workerSignaller = signaller;
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
    // Signed but not readable as an item: acknowledged (a 4xx would only be retried, identically, 10
    // times and then dropped by Spruce) and recorded with its ids for a later fetch, never lost silently.
    const unreadable = await postEvent(body, signSpruceWebhook(fake.webhookSecret, body));
    assert.equal(unreadable.status, 200);
    assert.equal(unreadable.json.result, 'unreadable');
    const { rows } = await db.pool.query<{ kind: string; status: string }>(
      `SELECT kind, status FROM inbound_event WHERE channel = 'spruce' AND event_key LIKE 'unreadable:%'`,
    );
    assert.deepEqual(rows, [{ kind: 'unreadable', status: 'received' }]);
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
  /** A signed event for an inbound patient item, as Spruce would send it. */
  function inboundItemEvent(
    type: string,
    eventTime: string,
    fields: { id: string; conversationId: string; text: string },
  ): string {
    return JSON.stringify({
      object: 'event',
      type,
      eventTime,
      data: {
        object: {
          ...fields,
          direction: 'inbound',
          isInternalNote: false,
          createdAt: '2030-02-01T09:00:00.000Z',
          attachments: [],
          pages: [],
        },
      },
    });
  }
  const post = (body: string) => postEvent(body, signSpruceWebhook(fake.webhookSecret, body));

  it('an edited patient message (.created then .updated) signals patientReply once; an edit into a revocation revokes', async () => {
    const p = await patient();
    await activities.sendSpruceResult(p.request);
    await fake.idle();
    const { conversationId } = await fake.simulatePatientReply({ contactId: p.contact.id, text: 'ok' });
    const before = signalsTo(p.workflowId, 'patientReply').length;
    const id = `ti_EDIT${seq}`;
    const created = inboundItemEvent('conversationItem.created', '2030-02-01T09:00:00.000Z', {
      id,
      conversationId,
      text: 'Thanks',
    });
    const edited = inboundItemEvent('conversationItem.updated', '2030-02-01T09:00:30.000Z', {
      id,
      conversationId,
      text: 'Thanks!',
    });
    assert.equal((await post(created)).json.result, 'reply');
    assert.equal((await post(edited)).json.result, 'edited');
    assert.equal(signalsTo(p.workflowId, 'patientReply').length, before + 1, 'the patient replied once');

    const revoking = inboundItemEvent('conversationItem.updated', '2030-02-01T09:01:00.000Z', {
      id,
      conversationId,
      text: 'Thanks. Please stop texting me',
    });
    assert.equal((await post(revoking)).json.result, 'revocation');
    assert.equal(await getSmsConsent(db.pool, { practiceId: PRACTICE, patientId: p.patientId, phone: p.phone }), false);
    assert.equal(signalsTo(p.workflowId, 'patientReply').length, before + 1, 'still one reply');
    assert.deepEqual(
      signalsTo(p.workflowId, 'consentChanged').map((x) => x.arg.smsConsent),
      [false],
    );
  });

  it('.updated before .created (out of order): one patientReply, the older .created is stale', async () => {
    const p = await patient();
    await activities.sendSpruceResult(p.request);
    await fake.idle();
    const { conversationId } = await fake.simulatePatientReply({ contactId: p.contact.id, text: 'hi' });
    const before = signalsTo(p.workflowId, 'patientReply').length;
    const id = `ti_ORDER${seq}`;
    const updated = inboundItemEvent('conversationItem.updated', '2030-02-01T09:00:30.000Z', {
      id,
      conversationId,
      text: 'See you Tuesday (edited)',
    });
    const created = inboundItemEvent('conversationItem.created', '2030-02-01T09:00:00.000Z', {
      id,
      conversationId,
      text: 'See you Tuesday',
    });
    assert.equal((await post(updated)).json.result, 'reply');
    assert.equal((await post(created)).json.result, 'stale');
    assert.equal(signalsTo(p.workflowId, 'patientReply').length, before + 1);
  });

  it('a webhook that beats the write of its request id is parked, then replayed when the outbox records it', async () => {
    const p = await patient();
    const client = createSpruceClient({ baseUrl: fake.apiBaseUrl, token: TOKEN });
    // The post answers, and before the activity can record the request id, the webhook has arrived.
    const slowRecorder = createSpruceActivities({
      pool: db.pool,
      audit: createAuditLog(db.pool),
      spruce: {
        ...client,
        async postMessage(input) {
          const posted = await client.postMessage(input);
          await fake.idle();
          return posted;
        },
      },
      spruceInternalEndpointId: DEFAULT_SECURE_ENDPOINT_ID,
      practices: loadPracticeRegistry('config/practices.sandbox.json'),
      signaller: workerSignaller,
      now: () => new Date(),
    });
    const sent = await slowRecorder.sendSpruceResult(p.request);
    const { rows: parked } = await db.pool.query<{ provider_message_id: string; replayed: boolean }>(
      `SELECT provider_message_id, replayed_at IS NOT NULL AS replayed FROM unmatched_delivery_event
       WHERE provider = 'spruce' AND thread_id = $1`,
      [sent.conversationId],
    );
    assert.deepEqual(parked, [{ provider_message_id: sent.messageRef, replayed: true }], 'parked, then replayed');
    assert.deepEqual(
      signalsTo(p.workflowId, 'deliveryStatus').map((x) => [x.arg.providerMessageId, x.arg.status]),
      [[sent.messageRef, 'sent']],
    );
    const { rows } = await db.pool.query(`SELECT delivery_status FROM outbox WHERE workflow_id = $1`, [p.workflowId]);
    assert.deepEqual(rows, [{ delivery_status: 'sent' }]);
  });

  it('a lost answer whose webhook arrives before the retry: parked, then adopted when the retry is refused as a duplicate', async () => {
    const p = await patient();
    fake.failNext({ kind: 'reset', afterProcessing: true }, 1, { path: '/messages$' });
    await assert.rejects(activities.sendSpruceResult(p.request));
    await fake.idle();
    const retried = await activities.sendSpruceResult(p.request);
    const item = fake.items().find((i) => i.conversationId === retried.conversationId && i.kind === 'secure-message');
    assert.ok(item !== undefined);
    assert.equal(retried.messageRef, item.requestId, 'the real request id, not the pending placeholder');
    const { rows } = await db.pool.query(
      `SELECT provider_message_id, delivery_status FROM outbox WHERE workflow_id = $1`,
      [p.workflowId],
    );
    assert.deepEqual(rows, [{ provider_message_id: item.requestId, delivery_status: 'sent' }]);
    assert.deepEqual(
      signalsTo(p.workflowId, 'deliveryStatus').map((x) => x.arg.providerMessageId),
      [item.requestId],
    );
  });

  it('a page whose retry was refused as a duplicate (422) is adopted by its reference, before or after the retry', async () => {
    for (const hold of [true, false]) {
      seq += 1;
      const request = {
        workflowId: `lab-result-${PRACTICE}-${String(seq).padStart(32, '7')}`,
        resultVersion: 1,
        step: `page-oncall-${hold ? 'held' : 'early'}`,
        practiceId: PRACTICE,
        staffId: 'prov-1',
        reason: 'critical-result' as const,
        urgency: 'high' as const,
      };
      if (hold) fake.holdWebhooks();
      fake.failNext({ kind: 'reset', afterProcessing: true }, 1, { path: '^/v1/conversations$' });
      await assert.rejects(activities.pageStaff(request));
      await fake.idle();
      const retried = await activities.pageStaff(request);
      if (hold) {
        assert.ok(retried.pageRef.startsWith(PENDING_ID_PREFIX), 'no webhook yet: pending');
        fake.releaseWebhooks();
        await fake.idle();
      }
      const page = fake.items().find((i) => i.kind === 'page' && i.text.includes(request.workflowId));
      assert.ok(page !== undefined);
      const { rows } = await db.pool.query(
        `SELECT provider_message_id, delivery_status FROM outbox WHERE workflow_id = $1`,
        [request.workflowId],
      );
      assert.deepEqual(rows, [{ provider_message_id: page.requestId, delivery_status: 'sent' }], `hold=${hold}`);
      if (!hold) assert.equal(retried.pageRef, page.requestId);
    }
  });
});
