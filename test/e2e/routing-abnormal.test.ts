import { isDeepStrictEqual } from 'node:util';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Stack } from '../../sandbox/stack';
import {
  assertAuditChainIntact,
  assertAuditFreeOfPhi,
  assertNoPhi,
  athenaCasesOf,
  auditRows,
  callTasksOf,
  grantSmsConsent,
  outboxOf,
  pagesAbout,
  pagesTo,
  postHl7,
  secureMessagesTo,
  seedAthenaPatient,
  seedSpruceContact,
  sendOverMllp,
  signOff,
  smsTo,
  statusOf,
  statusOverHttp,
  untilAudit,
  untilStatus,
  type Accepted,
} from '../fixtures/e2e/loop';
import { oru, PATIENTS, phiOf } from '../fixtures/e2e/patients';
import { pdfText } from '../fixtures/e2e/pdf-text';
import { eventually, startTestStack } from '../support/stack';

/**
 * Routing table, row "abnormal", on the assembled loop (real Temporal, PostgreSQL, worker with the
 * real activities, API, and the Twilio/Spruce/athena fakes):
 *
 * - unsigned abnormal results (one over MLLP, one over HTTPS) wait for a provider: no patient contact,
 *   state "awaiting-sign-off", a row in the review queue;
 * - a sign-off with a note (the signOff update, as the review app sends it) puts a secure Spruce
 *   message with the result PDF, the note and the scheduling link in the patient's thread, pages the
 *   ordering provider, and never texts the patient;
 * - a patient without a Spruce account gets one generic "you have a secure message" text (consent on
 *   file), and when nothing was read within `abnormalUnreadCallMinutes` staff get an outbound-call task,
 *   both in labloop's call_task table and as an athena patient case.
 */

const PROVIDER_NOTE = 'Your cholesterol is up a little. Please book a visit so we can talk about diet and recheck.';
const ORDERING_PROVIDER = 'prov-2';
const ORDERING_PROVIDER_MEMBER = 'entity_member_prov2';
/** Policy `abnormalUnreadCallMinutes` in this file: the shortest the registry allows. */
const UNREAD_CALL_MINUTES = 1;
const SCHEDULING_URL = 'https://riverside.example.org/schedule';

describe('routing, abnormal result: held until signed, then a secure thread (or a prompt and a call)', () => {
  const withSpruce = PATIENTS.spruceUser;
  const withoutSpruce = PATIENTS.noSpruce;
  let stack: Stack;
  let contactId: string;
  let spruceWorkflow: string;
  let promptResult: Accepted;
  let signedAt: number;

  before(async () => {
    stack = await startTestStack({
      policyOverrides: {
        // The messaging window is quiet-hours' own test; all day here so the run time does not matter.
        patientQuietHours: { start: '00:00', end: '00:00' },
        // One minute instead of a day, so the unread-thread call task is seen in real time.
        abnormalUnreadCallMinutes: UNREAD_CALL_MINUTES,
      },
    });
    for (const who of [withSpruce, withoutSpruce]) {
      seedAthenaPatient(stack, who);
      // Consent on file for both: the Spruce patient must still get no text.
      await grantSmsConsent(stack, who);
    }
    contactId = seedSpruceContact(stack, withSpruce, true);
  });
  after(async () => {
    await stack?.stop();
  });

  it('accepts an unsigned abnormal result over MLLP and another over HTTPS', async () => {
    spruceWorkflow = await sendOverMllp(
      stack,
      oru('abnormal', withSpruce, { accession: 'E2E-ABN-1', controlId: 'E2E-ABN-1-1' }),
      'E2E-ABN-1',
    );
    promptResult = await postHl7(
      stack,
      oru('abnormal', withoutSpruce, { accession: 'E2E-ABN-2', controlId: 'E2E-ABN-2-1' }),
    );
    for (const id of [spruceWorkflow, promptResult.workflowId]) {
      assertNoPhi(
        id,
        [...phiOf(withSpruce, 'abnormal'), ...phiOf(withoutSpruce, 'abnormal'), 'E2E-ABN'],
        'workflow ID',
      );
    }
  });

  it('holds both for sign-off: awaiting-sign-off with a deadline, in the review queue, nobody contacted', async () => {
    for (const workflowId of [spruceWorkflow, promptResult.workflowId]) {
      // The SLA deadline is the last thing the workflow decides about an unsigned result.
      const view = await untilStatus(
        stack,
        workflowId,
        'awaiting sign-off with a deadline',
        (v) => v.state === 'awaiting-sign-off' && v.slaDeadline !== undefined,
      );
      assert.equal(view.acuity, 'abnormal');
      assert.equal(view.signed, false);
      assert.deepEqual(view.deliveries, [], 'no send of any kind before sign-off');
      const item = await eventually(
        async () => {
          const { rows } = await stack.pool.query<{
            acuity: string;
            signed: boolean;
            state: string;
            patient_id: string;
          }>(`SELECT acuity, signed, state, patient_id FROM review_item WHERE workflow_id = $1`, [workflowId]);
          return rows[0]?.state === 'awaiting-sign-off' ? rows[0] : undefined;
        },
        15_000,
        'the review-queue row',
      );
      assert.deepEqual([item.acuity, item.signed], ['abnormal', false]);
      await untilAudit(stack, workflowId, 'hold', 'awaiting-sign-off');
    }
    assert.equal(smsTo(stack, withSpruce).length + smsTo(stack, withoutSpruce).length, 0, 'no text');
    assert.equal(secureMessagesTo(stack, contactId).length, 0, 'no secure message');
    assert.equal(stack.fakes.athena.control.patientNotes().length, 0, 'no portal note');
    assert.equal(pagesAbout(stack, spruceWorkflow).length + pagesAbout(stack, promptResult.workflowId).length, 0);
    for (const channel of ['sms', 'spruce', 'portal']) {
      assert.deepEqual(await outboxOf(stack, spruceWorkflow, channel), [], `no ${channel} intent`);
      assert.deepEqual(await outboxOf(stack, promptResult.workflowId, channel), [], `no ${channel} intent`);
    }
  });

  it('a sign-off with a note puts the result, the PDF and the note in the Spruce thread and pages the orderer', async () => {
    signedAt = Date.now();
    const [signed] = await Promise.all([
      signOff(stack, spruceWorkflow, ORDERING_PROVIDER, PROVIDER_NOTE),
      signOff(stack, promptResult.workflowId, ORDERING_PROVIDER),
    ]);
    assert.equal(signed.alreadySigned, false);
    assert.equal(signed.signedBy, ORDERING_PROVIDER);

    const [message] = await eventually(
      () => {
        const found = secureMessagesTo(stack, contactId);
        return found.length > 0 ? found : undefined;
      },
      30_000,
      'the secure message at the Spruce fake',
    );
    assert.match(message.text, /Lipid panel results are attached/);
    assert.ok(message.text.includes(`Note from your provider: ${PROVIDER_NOTE}`), message.text);
    assert.ok(message.text.includes(SCHEDULING_URL), 'the scheduling link');
    assert.equal(message.conversationType, 'secure');
    assert.equal(message.attachments.length, 1);
    const [attachment] = message.attachments;
    assert.equal(attachment.contentType, 'application/pdf');
    assert.equal(attachment.filename, 'lab-results-v1.pdf');
    const media = stack.fakes.spruce.media(attachment.mediaId);
    assert.ok(media !== undefined, 'the uploaded PDF is stored at the fake');
    assert.equal(media.size, attachment.size);
    assert.ok(media.size > 1_000 && media.size < 200_000, `a one-page result PDF (${media.size} bytes)`);
    assert.equal(media.data.subarray(0, 5).toString('latin1'), '%PDF-');
    assert.match(media.data.subarray(-32).toString('latin1'), /%%EOF\s*$/);
    const text = pdfText(media.data);
    for (const expected of ['Cholesterol, total', '262', 'Triglycerides', 'Bellweather', 'recheck']) {
      assert.ok(text.includes(expected), `the PDF shows ${expected}:\n${text}`);
    }

    const page = await eventually(
      () => pagesTo(stack, ORDERING_PROVIDER_MEMBER).find((p) => p.text.includes(spruceWorkflow)),
      30_000,
      'the page to the ordering provider',
    );
    assert.match(page.text, /Abnormal lab result needs review/);
    assertNoPhi(page.text, [...phiOf(withSpruce, 'abnormal'), withSpruce.firstName], 'the page');

    const view = await untilStatus(stack, spruceWorkflow, 'notified', (v) => v.state === 'notified');
    assert.equal(view.signedBy, ORDERING_PROVIDER);
    assert.equal(view.patientNotifiedVersion, 1);
    const channels = view.deliveries.map((d) => `${d.channel}:${d.step}`).sort();
    assert.deepEqual(channels, ['page:v1:page-abnormal-ordering', 'portal:v1:portal-note', 'spruce:v1:spruce-result']);
    const spruce = view.deliveries.find((d) => d.channel === 'spruce');
    assert.notEqual(spruce?.status, 'failed');
    assert.ok(spruce?.providerMessageId !== undefined, 'the Spruce request ID is recorded');
    // The same view at the status URL (the API answers it from the workflow query). Delivery reports
    // keep arriving (queued, then sent), so compare two reads taken back to back until they agree.
    await eventually(
      async () => {
        const viaQuery = await untilStatus(stack, spruceWorkflow, 'notified', (v) => v.state === 'notified');
        const overHttp = await statusOverHttp(stack, `${stack.urls.api}/v1/results/${spruceWorkflow}`);
        return isDeepStrictEqual(overHttp.deliveries, viaQuery.deliveries) ? true : undefined;
      },
      30_000,
      'the status URL to show what the workflow query shows',
    );
    await untilAudit(stack, spruceWorkflow, 'routing-decision', 'spruce-and-portal');
    // Routing is over: a text would have been planned by now.
    assert.equal(smsTo(stack, withSpruce).length, 0, 'a patient with a secure thread gets no text');
    assert.deepEqual(await outboxOf(stack, spruceWorkflow, 'sms'), []);
  });

  it('without a Spruce account: one generic "secure message" text with no PHI, and the orderer is paged', async () => {
    await untilAudit(stack, promptResult.workflowId, 'routing-decision', 'no-spruce-sms-prompt-and-portal');
    const view = await untilStatus(stack, promptResult.workflowId, 'the prompt delivered', (v) =>
      v.deliveries.some((d) => d.channel === 'sms' && d.status === 'delivered'),
    );
    const texts = smsTo(stack, withoutSpruce);
    assert.equal(texts.length, 1, 'exactly one text');
    assert.match(texts[0].body, /you have a secure message from Riverside Family Medicine/);
    assertNoPhi(texts[0].body, phiOf(withoutSpruce, 'abnormal'), 'the SMS body');
    assertNoPhi(texts[0].body, [PROVIDER_NOTE, 'abnormal', 'cholesterol', 'high'], 'the SMS body');
    assert.equal(view.deliveries.find((d) => d.channel === 'sms')?.step, 'v1:sms-secure-message-waiting');
    assert.deepEqual(await outboxOf(stack, promptResult.workflowId, 'spruce'), [], 'no secure thread was attempted');
    const page = await eventually(
      () => pagesTo(stack, ORDERING_PROVIDER_MEMBER).find((p) => p.text.includes(promptResult.workflowId)),
      30_000,
      'the page to the ordering provider',
    );
    assertNoPhi(page.text, [...phiOf(withoutSpruce, 'abnormal'), withoutSpruce.firstName], 'the page');
  });

  it(`opens an outbound-call task (table and athena) when nothing is read within ${UNREAD_CALL_MINUTES} minute`, async () => {
    const tasks = await eventually(
      async () => {
        const rows = await callTasksOf(stack, promptResult.workflowId);
        return rows.some((t) => t.athena_case_id !== null) ? rows : undefined;
      },
      UNREAD_CALL_MINUTES * 60_000 + 45_000,
      'the unread call task with its athena case',
    );
    const elapsed = Date.now() - signedAt;
    assert.ok(elapsed >= UNREAD_CALL_MINUTES * 60_000, `not before the configured time (${elapsed} ms)`);
    assert.equal(tasks.length, 1);
    const [task] = tasks;
    assert.deepEqual(
      [task.reason, task.priority, task.status, task.patient_id],
      ['abnormal-unread', 'normal', 'open', withoutSpruce.id],
    );
    const cases = athenaCasesOf(stack, withoutSpruce);
    assert.equal(cases.length, 1, 'one athena patient case');
    assert.equal(cases[0].patientCaseId, task.athena_case_id);
    assert.equal(cases[0].outboundOnly, true);
    assert.equal(cases[0].assignedTo, 'CALLBACKQUEUE', "assigned to the practice's call-task queue");
    assert.ok(cases[0].internalNote?.includes(promptResult.workflowId), 'the case names the result by workflow ID');
    assertNoPhi(
      `${cases[0].subject ?? ''} ${cases[0].internalNote ?? ''}`,
      phiOf(withoutSpruce, 'abnormal'),
      'the case',
    );
    const view = await untilStatus(stack, promptResult.workflowId, 'the open call task', (v) =>
      (v.callTasks ?? []).some((t) => t.status === 'open'),
    );
    assert.deepEqual(
      view.callTasks?.map((t) => [t.step, t.reason, t.status, t.taskId]),
      [['v1:call-abnormal-unread', 'abnormal-unread', 'open', task.id]],
    );
    await untilAudit(stack, promptResult.workflowId, 'routing-decision', 'unread-call-task');

    // The secure thread was not read either (nobody opened it in the fake): the same rule applies.
    const spruceTasks = await eventually(
      async () => {
        const rows = await callTasksOf(stack, spruceWorkflow);
        return rows.length > 0 ? rows : undefined;
      },
      30_000,
      'the unread call task for the Spruce thread',
    );
    assert.deepEqual(
      spruceTasks.map((t) => t.reason),
      ['abnormal-unread'],
    );
    // Still one text and one secure message each: the call task is for staff, not another send.
    assert.equal(smsTo(stack, withoutSpruce).length, 1);
    assert.equal(smsTo(stack, withSpruce).length, 0);
    assert.equal(secureMessagesTo(stack, contactId).length, 1);
    assert.equal((await statusOf(stack, spruceWorkflow)).deliveries.length, 3);
  });

  it('keeps the audit chain intact, with a trail that holds no PHI', async () => {
    const trail = await auditRows(stack, spruceWorkflow);
    const sequence = trail.map((r) => `${r.action}:${r.outcome}`);
    for (const step of ['sign-off:signed', 'release:signed-and-final', 'routing-decision:spruce-and-portal']) {
      assert.ok(sequence.includes(step), `trail has ${step}: ${sequence.join(', ')}`);
    }
    assert.ok(sequence.indexOf('sign-off:signed') < sequence.indexOf('routing-decision:spruce-and-portal'));
    await assertAuditFreeOfPhi(stack, [
      ...phiOf(withSpruce, 'abnormal'),
      ...phiOf(withoutSpruce, 'abnormal'),
      withSpruce.firstName,
      withoutSpruce.firstName,
      PROVIDER_NOTE,
    ]);
    await assertAuditChainIntact(stack);
  });
});
