import assert from 'node:assert/strict';
import { createHash, createHmac, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/activity';
import type { AthenaIngestActivities } from '../../domain/athena-ingest-contract';
import { workflowIdForResult } from '../../lib/ingest/handoff';
import { ATHENA_RESULT_ID_ISSUER } from '../../lib/result-ref';
import { startAthenaFake, type AthenaFake } from '../../sandbox/fakes/athena';
import { WorkflowFailedError } from '@temporalio/client';
import { athenaEventWorkflowId, getStatusQuery } from '../../workflows/definitions';
import {
  ATHENA_CLIENT_ID,
  ATHENA_CLIENT_SECRET,
  ATHENA_WEBHOOK_SECRET,
  athenaIngestActivitiesFor,
  athenaTestClient,
  eventually,
  PRACTICE_ID,
  signalCount,
  startIngestHarness,
  unreachableTemporalClient,
  workflowExists,
  workflowIdsOnQueue,
  type IngestHarness,
} from './ingest-harness';

/**
 * athena Event Subscription webhooks end to end: the athena fake delivers signed notifications to the
 * listening API; each event becomes one durable event workflow (real worker) whose activity inflates
 * the result through the real athena client and hands it off. Duplicates, reordering and sign-off in
 * athena all land on the one lab-result workflow; bad signatures and bad bodies start nothing.
 */

/** athena wants an answer within 5 s; we aim for 2 s. */
const ACK_BUDGET_MS = 2_000;

function sign(body: string, secret = ATHENA_WEBHOOK_SECRET): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** An id-only notification as athena sends it (see sandbox/fakes/athena/webhook-sender.ts). */
function notification(event: {
  athenaPracticeId: string;
  labResultId: string;
  patientId?: string;
  topic?: string;
  id?: string;
}): string {
  const context =
    event.patientId === undefined
      ? []
      : [
          {
            reference: `Patient/a-${event.athenaPracticeId}.E-${event.patientId}`,
            identifier: {
              system: `urn:athenahealth:athenanet:patient:${event.athenaPracticeId}`,
              value: event.patientId,
            },
          },
        ];
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
          topic: `https://athena.example/fhir/r4/SubscriptionTopic/${event.topic ?? 'LabResult.create'}`,
          notificationEvent: [
            {
              id: event.id ?? randomUUID(),
              timestamp: new Date().toISOString(),
              focus: {
                identifier: {
                  system: `urn:athenahealth:athenanet:labresult:${event.athenaPracticeId}`,
                  value: event.labResultId,
                },
              },
              additionalContext: context,
            },
          ],
        },
      },
    ],
  });
}

void describe('athena webhooks → event workflows → lab-result workflow', () => {
  let h: IngestHarness;
  let fake: AthenaFake;
  let apiUrl: string;
  let patientId: string;
  /** When set, the next event's ingest fails for good: its event workflow ends failed. */
  let failNextIngest = false;

  before(async () => {
    fake = await startAthenaFake({ clientId: ATHENA_CLIENT_ID, clientSecret: ATHENA_CLIENT_SECRET });
    const athena = athenaTestClient(fake.url);
    h = await startIngestHarness({
      label: 'athena_ingest_webhook',
      athenaWebhookSecret: ATHENA_WEBHOOK_SECRET,
      extraActivities: (base) => {
        const real = athenaIngestActivitiesFor(base, athena);
        const wrapped: AthenaIngestActivities = {
          ...real,
          ingestAthenaLabResult: (request) => {
            if (failNextIngest) {
              failNextIngest = false;
              throw ApplicationFailure.nonRetryable('simulated permanent failure of an event', 'SimulatedFailure');
            }
            return real.ingestAthenaLabResult(request);
          },
        };
        return wrapped;
      },
    });
    apiUrl = await h.built.app.listen({ host: '127.0.0.1', port: 0 });
    fake.control.configureWebhook({
      url: `${apiUrl}/webhooks/athena`,
      secret: ATHENA_WEBHOOK_SECRET,
      retryBaseDelayMs: 20,
    });
    patientId = fake.control.addPatient({
      practiceId: PRACTICE_ID,
      firstName: 'Dana',
      lastName: 'Whitfield',
      dob: '1980-04-02',
      mobilePhone: '6175550123',
    }).patientId;
  });
  after(async () => {
    await fake?.close();
    await h?.close();
  });

  const addResult = (overrides: { resultstatus?: string } = {}) =>
    fake.control.addLabResult({
      practiceId: PRACTICE_ID,
      patientId,
      providerId: '71',
      description: 'Basic metabolic panel',
      resultstatus: overrides.resultstatus ?? 'Final',
      analytes: [{ analytename: 'Sodium', loinc: '2951-2', value: '140', units: 'mmol/L', referencerange: '135-145' }],
    }).labResultId;

  const labResultWorkflowId = (labResultId: string) =>
    workflowIdForResult(h.idSecret, {
      practiceId: PRACTICE_ID,
      issuer: ATHENA_RESULT_ID_ISSUER,
      resultId: labResultId,
    });
  const eventWorkflows = async () =>
    (await workflowIdsOnQueue(h.client, h.taskQueue)).filter((id) => id.startsWith('athena-event-'));
  const status = (labResultId: string) =>
    h.client.workflow.getHandle(labResultWorkflowId(labResultId)).query(getStatusQuery);

  void it('LabResult.create: acknowledged within 2 s, and the result reaches its lab-result workflow', async () => {
    const labResultId = addResult();
    await fake.control.webhooksSettled();
    const delivery = fake.control.webhookDeliveries().find((d) => d.delivered && d.topic === 'LabResult.create');
    assert.ok(delivery !== undefined, 'athena got a 2xx');
    const workflowId = labResultWorkflowId(labResultId);
    await eventually('the lab-result workflow', async () =>
      (await workflowExists(h.client, workflowId)) ? true : undefined,
    );
    assert.equal(await signalCount(h.client, workflowId), 1);
    const view = await status(labResultId);
    assert.equal(view.resultStatus, 'final');
    assert.equal(view.signed, false);

    // The answer itself is quick: measured on a signed delivery of an event for the same result.
    const body = notification({ athenaPracticeId: PRACTICE_ID, labResultId, patientId, topic: 'LabResult.update' });
    const started = Date.now();
    const response = await fetch(`${apiUrl}/webhooks/athena`, {
      method: 'POST',
      headers: { 'content-type': 'application/fhir+json', 'x-hub-signature': sign(body) },
      body,
    });
    assert.equal(response.status, 200);
    assert.ok(Date.now() - started < ACK_BUDGET_MS, `answered in ${Date.now() - started} ms`);
    assert.deepEqual(await response.json(), { started: 1, duplicates: 0, ignored: 0 });
  });

  void it('a duplicated event starts one event workflow, and the lab-result workflow is signalled once', async () => {
    const before = await eventWorkflows();
    fake.control.setWebhookMode({ duplicate: true });
    const labResultId = addResult();
    await fake.control.webhooksSettled();
    fake.control.setWebhookMode({ duplicate: false });
    const deliveries = fake.control.webhookDeliveries().filter((d) => d.delivered && d.topic === 'LabResult.create');
    const last = deliveries.at(-1);
    assert.equal(
      deliveries.filter((d) => d.eventIds[0] === last?.eventIds[0]).length,
      2,
      'athena delivered the event twice',
    );
    const workflowId = labResultWorkflowId(labResultId);
    await eventually('the lab-result workflow', async () =>
      (await workflowExists(h.client, workflowId)) ? true : undefined,
    );
    const added = (await eventWorkflows()).filter((id) => !before.includes(id));
    assert.equal(added.length, 1, 'Temporal refused the duplicate start');
    await h.client.workflow.getHandle(added[0] ?? '').result();
    assert.equal(await signalCount(h.client, workflowId), 1);
  });

  void it('athena replays an event whose workflow failed: a new run starts and delivers; a succeeded event stays a duplicate', async () => {
    // This test delivers the event itself: athena's own delivery would take the injected failure.
    await fake.control.webhooksSettled();
    fake.control.configureWebhook(undefined);
    const labResultId = addResult();
    fake.control.configureWebhook({
      url: `${apiUrl}/webhooks/athena`,
      secret: ATHENA_WEBHOOK_SECRET,
      retryBaseDelayMs: 20,
    });
    const eventId = randomUUID();
    const body = notification({ athenaPracticeId: PRACTICE_ID, labResultId, patientId, id: eventId });
    const deliver = async () => {
      const response = await fetch(`${apiUrl}/webhooks/athena`, {
        method: 'POST',
        headers: { 'content-type': 'application/fhir+json', 'x-hub-signature': sign(body) },
        body,
      });
      assert.equal(response.status, 200);
      return (await response.json()) as { started: number; duplicates: number };
    };
    failNextIngest = true;
    assert.deepEqual(await deliver(), { started: 1, duplicates: 0, ignored: 0 });
    // By its ID (describe is consistent at once; listing goes through visibility, which lags).
    const eventWorkflow = athenaEventWorkflowId(
      PRACTICE_ID,
      createHash('sha256').update(eventId).digest('hex').slice(0, 32),
    );
    assert.ok(await workflowExists(h.client, eventWorkflow), 'the event has its workflow');
    await assert.rejects(h.client.workflow.getHandle(eventWorkflow).result(), WorkflowFailedError);
    const workflowId = labResultWorkflowId(labResultId);
    assert.equal(await workflowExists(h.client, workflowId), false, 'the failed run delivered nothing');

    // athena's dead-letter replay: the same event, delivered again.
    assert.deepEqual(await deliver(), { started: 1, duplicates: 0, ignored: 0 });
    await h.client.workflow.getHandle(eventWorkflow).result();
    assert.equal(await workflowExists(h.client, workflowId), true);
    assert.equal(await signalCount(h.client, workflowId), 1);

    // Once a run succeeded, the event is done: a further delivery is a duplicate.
    assert.deepEqual(await deliver(), { started: 0, duplicates: 1, ignored: 0 });
  });

  void it('out-of-order events (update before create) leave the workflow with the latest version, delivered once', async () => {
    fake.control.setWebhookMode({ reorder: true });
    const labResultId = addResult({ resultstatus: 'Preliminary' });
    fake.control.updateLabResult(labResultId, { resultstatus: 'Corrected' });
    fake.control.flushWebhooks();
    fake.control.setWebhookMode({ reorder: false });
    await fake.control.webhooksSettled();
    const workflowId = labResultWorkflowId(labResultId);
    await eventually('the lab-result workflow', async () =>
      (await workflowExists(h.client, workflowId)) ? true : undefined,
    );
    // Both event workflows finish; each read the document as it is now, so one version arrives once.
    await eventually('both event workflows to finish', async () => {
      const running = await h.client.workflow.count(
        `TaskQueue = "${h.taskQueue}" AND WorkflowType = "athenaLabResultEventWorkflow" AND ExecutionStatus = "Running"`,
      );
      return running.count === 0 ? true : undefined;
    });
    assert.equal((await status(labResultId)).resultStatus, 'corrected');
    assert.equal(await signalCount(h.client, workflowId), 1);
  });

  void it('sign-off in athena signals the running workflow, which then counts as signed', async () => {
    const labResultId = addResult();
    const workflowId = labResultWorkflowId(labResultId);
    await eventually('the lab-result workflow', async () =>
      (await workflowExists(h.client, workflowId)) ? true : undefined,
    );
    assert.equal((await status(labResultId)).signed, false);
    fake.control.signOff(labResultId, '71');
    await fake.control.webhooksSettled();
    const view = await eventually('the sign-off', async () => {
      const current = await status(labResultId);
      return current.signed ? current : undefined;
    });
    assert.equal(view.version, 2);
    assert.equal(await signalCount(h.client, workflowId), 2);
  });

  void it('a document a staff user CLOSED without a provider review reaches the workflow unsigned', async () => {
    const labResultId = addResult();
    const workflowId = labResultWorkflowId(labResultId);
    await eventually('the lab-result workflow', async () =>
      (await workflowExists(h.client, workflowId)) ? true : undefined,
    );
    // A medical assistant (staff-1, athena user "mlee") closes it: a new version, never a sign-off.
    fake.control.closeLabResult(labResultId, 'Filed', 'mlee');
    await fake.control.webhooksSettled();
    await eventually('the CLOSED version', async () =>
      (await signalCount(h.client, workflowId)) === 2 ? true : undefined,
    );
    const view = await status(labResultId);
    assert.equal(view.version, 2);
    assert.equal(view.signed, false);
  });

  void it("a reviewed document last changed by a staff user does not sign; the provider's own review does", async () => {
    // Both changes land before athena's events go out, so every read sees the staff user's edit last.
    fake.control.setWebhookMode({ reorder: true });
    const labResultId = addResult();
    fake.control.signOff(labResultId, '71', 'achen');
    fake.control.editByUser(labResultId, 'mlee', 'Scanned the requisition');
    fake.control.setWebhookMode({ reorder: false });
    await fake.control.webhooksSettled();
    const workflowId = labResultWorkflowId(labResultId);
    await eventually('the lab-result workflow', async () =>
      (await workflowExists(h.client, workflowId)) ? true : undefined,
    );
    await eventually('every event workflow to finish', async () => {
      const running = await h.client.workflow.count(
        `TaskQueue = "${h.taskQueue}" AND WorkflowType = "athenaLabResultEventWorkflow" AND ExecutionStatus = "Running"`,
      );
      return running.count === 0 ? true : undefined;
    });
    assert.equal(fake.control.labResult(labResultId).reviewed, true, 'athena does say a provider reviewed it');
    assert.equal((await status(labResultId)).signed, false);

    // The provider reviews it again (last change by achen, a registry provider): now it signs.
    fake.control.signOff(labResultId, '71', 'achen');
    await fake.control.webhooksSettled();
    await eventually('the sign-off', async () => ((await status(labResultId)).signed ? true : undefined));
  });

  void it('refuses a missing, malformed or wrong X-Hub-Signature (401) before anything else, starting nothing', async () => {
    const before = await workflowIdsOnQueue(h.client, h.taskQueue);
    const body = notification({ athenaPracticeId: PRACTICE_ID, labResultId: '1', patientId });
    const cases: { headers: Record<string, string>; message: RegExp }[] = [
      { headers: {}, message: /missing X-Hub-Signature/ },
      { headers: { 'x-hub-signature': 'sha1=abc' }, message: /sha256=<64 hex digits>/ },
      { headers: { 'x-hub-signature': sign(body, 'some-other-secret-0123') }, message: /does not match/ },
      // Signed over different bytes than were sent (a re-serialised body): refused.
      { headers: { 'x-hub-signature': sign(JSON.stringify(JSON.parse(body), null, 2)) }, message: /does not match/ },
      // Even with a wrong content type and a non-JSON body, the signature is what is refused first.
      { headers: { 'x-hub-signature': sign('other'), 'content-type': 'text/plain' }, message: /does not match/ },
    ];
    for (const c of cases) {
      const response = await h.built.app.inject({
        method: 'POST',
        url: '/webhooks/athena',
        headers: { 'content-type': 'application/fhir+json', ...c.headers },
        payload: body,
      });
      assert.equal(response.statusCode, 401, response.body);
      assert.match(response.json<{ message: string }>().message, c.message);
    }
    assert.deepEqual(await workflowIdsOnQueue(h.client, h.taskQueue), before);
  });

  void it('signed but bad: wrong content type 415, not JSON 400, not a notification 400, no patient 400, unknown practice 422; nothing started', async () => {
    const before = await workflowIdsOnQueue(h.client, h.taskQueue);
    const send = (body: string, contentType = 'application/fhir+json') =>
      h.built.app.inject({
        method: 'POST',
        url: '/webhooks/athena',
        headers: { 'content-type': contentType, 'x-hub-signature': sign(body) },
        payload: body,
      });
    const good = notification({ athenaPracticeId: PRACTICE_ID, labResultId: '1', patientId });
    const wrongType = await send(good, 'text/plain');
    assert.equal(wrongType.statusCode, 415);
    assert.match(wrongType.json<{ message: string }>().message, /application\/fhir\+json.*text\/plain/);

    const notJson = await send('{"resourceType":');
    assert.equal(notJson.statusCode, 400);
    assert.match(notJson.json<{ message: string }>().message, /not valid JSON/);

    const notBundle = await send(JSON.stringify({ resourceType: 'Patient' }));
    assert.equal(notBundle.statusCode, 400);
    assert.match(notBundle.json<{ message: string }>().message, /resourceType/);

    const noPatient = await send(notification({ athenaPracticeId: PRACTICE_ID, labResultId: '1' }));
    assert.equal(noPatient.statusCode, 400);
    assert.match(noPatient.json<{ message: string }>().message, /notificationEvent\.0\.additionalContext: no Patient/);

    const unknown = await send(notification({ athenaPracticeId: '999999', labResultId: '1', patientId }));
    assert.equal(unknown.statusCode, 422);
    assert.match(unknown.json<{ message: string }>().message, /athena practice 999999 is not configured/);

    // Topics we do not ingest are acknowledged and ignored, not refused (athena would retry for an hour).
    const other = await send(
      notification({ athenaPracticeId: PRACTICE_ID, labResultId: '1', patientId, topic: 'Patient.update' }),
    );
    assert.equal(other.statusCode, 200);
    assert.deepEqual(other.json(), { started: 0, duplicates: 0, ignored: 1 });

    assert.deepEqual(await workflowIdsOnQueue(h.client, h.taskQueue), before);
  });

  void it('503 within the budget while Temporal is unreachable (athena re-delivers), and the re-delivery is accepted', async () => {
    const down = await h.buildApi({ temporal: await unreachableTemporalClient() });
    const body = notification({ athenaPracticeId: PRACTICE_ID, labResultId: addResultQuietly(), patientId });
    const started = Date.now();
    const refused = await down.app.inject({
      method: 'POST',
      url: '/webhooks/athena',
      headers: { 'content-type': 'application/fhir+json', 'x-hub-signature': sign(body) },
      payload: body,
    });
    assert.equal(refused.statusCode, 503, refused.body);
    assert.ok(Date.now() - started < ACK_BUDGET_MS + 1_000, `answered in ${Date.now() - started} ms`);
    const accepted = await h.built.app.inject({
      method: 'POST',
      url: '/webhooks/athena',
      headers: { 'content-type': 'application/fhir+json', 'x-hub-signature': sign(body) },
      payload: body,
    });
    assert.equal(accepted.statusCode, 200);
    assert.equal(accepted.json<{ started: number }>().started, 1);
  });

  /** A result created while no webhook target is configured (so only the test's own delivery counts). */
  function addResultQuietly(): string {
    fake.control.configureWebhook(undefined);
    try {
      return addResult();
    } finally {
      fake.control.configureWebhook({
        url: `${apiUrl}/webhooks/athena`,
        secret: ATHENA_WEBHOOK_SECRET,
        retryBaseDelayMs: 20,
      });
    }
  }
});
