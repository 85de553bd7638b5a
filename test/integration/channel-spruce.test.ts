import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import type { PageRequest, SpruceResultRequest } from '../../domain/activity-contract';
import { ActivityErrorType } from '../../domain/activity-error-types';
import { PENDING_ID_PREFIX } from '../../lib/outbox/outbox';
import { SPRUCE_RETRYABLE_ERROR_TYPE } from '../../activities/spruce';
import type { LabResult } from '../../domain/lab-result';
import { startSpruceFake, type SpruceFake } from '../../sandbox/fakes/spruce';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { failureOf } from '../support/activity-failure';
import { spruceActivitiesForFake } from '../support/channel-activities';

/**
 * The Spruce activities (secure result thread with our PDF, pages to staff) through the real Spruce
 * client against the Spruce fake over HTTP, with a real PostgreSQL outbox: contact find-or-create,
 * conversation reuse, media upload, `s-idempotency-key` (a lost answer does not post twice), the
 * no-account case the workflow routes around, and outages as retryable failures.
 */

const TOKEN = 'spruce-channel-token';
const PRACTICE = '195900';
const ON_CALL_MEMBER = 'entity_member_oncall';

let seq = 0;

function labResult(patientId: string, overrides: Partial<LabResult['patient']> = {}): LabResult {
  return {
    source: 'athena',
    practiceId: PRACTICE,
    resultId: `r-${patientId}`,
    messageId: 'm-1',
    status: 'final',
    panelName: 'Basic metabolic panel',
    patient: {
      id: patientId,
      firstName: 'Dana',
      lastName: `Rivers${patientId}`,
      mobilePhone: '+15550301234',
      ...overrides,
    },
    observations: [
      { code: '2823-3', name: 'Potassium', value: '5.9', units: 'mmol/L', referenceRange: '3.5-5.1', flag: 'H' },
    ],
  };
}

function resultRequest(result: LabResult, overrides: Partial<SpruceResultRequest> = {}): SpruceResultRequest {
  seq += 1;
  return {
    workflowId: `lab-result-${PRACTICE}-${'d'.repeat(30)}${String(seq).padStart(2, '0')}`,
    resultVersion: 1,
    step: 'spruce-result',
    practiceId: PRACTICE,
    practiceName: 'Riverside Family Medicine',
    result,
    providerNote: 'Please repeat the test next week.',
    schedulingUrl: 'https://riverside.example.org/schedule',
    updated: false,
    ...overrides,
  };
}

describe('Spruce activities against the Spruce fake', () => {
  let db: TestDatabase;
  let fake: SpruceFake;
  let activities: ReturnType<typeof spruceActivitiesForFake>;

  before(async () => {
    db = await createTestDatabase('channel_spruce');
    fake = await startSpruceFake({
      token: TOKEN,
      members: [
        { id: ON_CALL_MEMBER, displayName: 'On call' },
        { id: 'entity_member_prov1', displayName: 'Provider 1' },
      ],
    });
    activities = spruceActivitiesForFake(db.pool, { spruceApiBaseUrl: fake.apiBaseUrl, token: TOKEN, timeoutMs: 500 });
  });
  afterEach(async () => {
    await fake.idle();
    fake.reset();
  });
  after(async () => {
    await fake.close();
    await db.close();
  });

  const seedPatient = (patientId: string, account: boolean) =>
    fake.seedContact({
      givenName: 'Dana',
      familyName: `Rivers${patientId}`,
      phone: '+15550301234',
      externalId: patientId,
      hasSpruceAccount: account,
    });

  it('looks the patient up by the EHR link and reports whether a secure thread is possible', async () => {
    const withAccount = seedPatient('p-look-1', true);
    seedPatient('p-look-2', false);
    assert.deepEqual(
      await activities.lookupSpruceContact({ practiceId: PRACTICE, patient: labResult('p-look-1').patient }),
      {
        contactId: withAccount.id,
        secure: true,
      },
    );
    assert.equal(
      (await activities.lookupSpruceContact({ practiceId: PRACTICE, patient: labResult('p-look-2').patient })).secure,
      false,
    );
    assert.deepEqual(
      await activities.lookupSpruceContact({ practiceId: PRACTICE, patient: labResult('p-unknown').patient }),
      { secure: false },
      'read-only: an unknown patient is not created by a lookup',
    );
  });

  it('posts the result with our PDF in a secure thread, once; a second result reuses the thread', async () => {
    const contact = seedPatient('p-send', true);
    const request = resultRequest(labResult('p-send'));
    const sent = await activities.sendSpruceResult(request);
    assert.equal(sent.alreadySent, false);
    assert.match(sent.messageRef, /^asyncRequest_/);
    await fake.idle();
    const items = fake.items().filter((i) => i.contactIds.includes(contact.id));
    assert.equal(items.length, 1);
    const item = items[0];
    assert.equal(item.kind, 'secure-message');
    assert.equal(item.conversationId, sent.conversationId);
    assert.equal(item.requestId, sent.messageRef);
    assert.match(item.text, /Basic metabolic panel results/);
    assert.match(item.text, /Please repeat the test next week/);
    assert.match(item.text, /riverside\.example\.org\/schedule/);
    assert.equal(item.attachments.length, 1);
    const pdf = fake.media(item.attachments[0].mediaId);
    assert.equal(pdf?.contentType, 'application/pdf');
    assert.equal(pdf?.data.subarray(0, 5).toString(), '%PDF-');

    assert.deepEqual(await activities.sendSpruceResult(request), { ...sent, alreadySent: true });
    const corrected = await activities.sendSpruceResult({ ...request, resultVersion: 2, updated: true });
    assert.equal(corrected.conversationId, sent.conversationId, 'the same thread is reused');
    await fake.idle();
    const texts = fake
      .items()
      .filter((i) => i.contactIds.includes(contact.id))
      .map((i) => i.text);
    assert.equal(texts.length, 2);
    assert.match(texts[1], /updated version/);
    const { rows } = await db.pool.query(`SELECT contact_id FROM spruce_contact WHERE patient_id = 'p-send'`);
    assert.deepEqual(rows, [{ contact_id: contact.id }]);
  });

  it('a lost answer is retried with the same s-idempotency-key: Spruce refuses the duplicate, nothing posts twice', async () => {
    const contact = seedPatient('p-lost', true);
    const request = resultRequest(labResult('p-lost'));
    fake.failNext({ kind: 'reset', afterProcessing: true }, 1, { path: '/messages$' });
    const failure = await failureOf(activities.sendSpruceResult(request));
    assert.equal(failure.type, SPRUCE_RETRYABLE_ERROR_TYPE);
    const retried = await activities.sendSpruceResult(request);
    assert.equal(retried.alreadySent, false);
    assert.ok(retried.messageRef.startsWith(PENDING_ID_PREFIX), 'Spruce does not replay the first answer');
    await fake.idle();
    assert.equal(fake.items().filter((i) => i.contactIds.includes(contact.id)).length, 1);
  });

  it('no Spruce account: SpruceNoAccountError (the contact is created for a later invite, not messaged)', async () => {
    seedPatient('p-noacct', false);
    const noAccount = await failureOf(activities.sendSpruceResult(resultRequest(labResult('p-noacct'))));
    assert.equal(noAccount.type, ActivityErrorType.SPRUCE_NO_ACCOUNT);
    assert.equal(noAccount.nonRetryable, true);

    const brandNew = await failureOf(activities.sendSpruceResult(resultRequest(labResult('p-new'))));
    assert.equal(brandNew.type, ActivityErrorType.SPRUCE_NO_ACCOUNT);
    const created = await activities.lookupSpruceContact({ practiceId: PRACTICE, patient: labResult('p-new').patient });
    assert.ok(created.contactId !== undefined, 'find-or-create made the contact, linked to the EHR id');

    const noPhone = await failureOf(
      activities.sendSpruceResult(resultRequest(labResult('p-nophone', { mobilePhone: undefined }))),
    );
    assert.equal(noPhone.type, ActivityErrorType.SPRUCE_NO_ACCOUNT);
    assert.equal(fake.items().length, 0);
  });

  it("against the documented contact shape (no hasAccount/hasPendingInvite): Spruce's refusal decides", async () => {
    const documented = await startSpruceFake({ token: TOKEN, documentedFieldsOnly: true });
    try {
      const plain = spruceActivitiesForFake(db.pool, { spruceApiBaseUrl: documented.apiBaseUrl, token: TOKEN });
      const withAccount = resultRequest(labResult('p-doc-yes'));
      const yes = documented.seedContact({
        givenName: 'Dana',
        familyName: 'Riversp-doc-yes',
        phone: '+15550301234',
        externalId: 'p-doc-yes',
        hasSpruceAccount: true,
      });
      documented.seedContact({
        givenName: 'Dana',
        familyName: 'Riversp-doc-no',
        phone: '+15550301234',
        externalId: 'p-doc-no',
        hasSpruceAccount: false,
      });
      assert.equal(documented.contact(yes.id)?.hasAccount, undefined, 'the fake answers the documented shape');
      // Unknown is "try": the lookup does not rule Spruce out.
      const lookedUp = await plain.lookupSpruceContact({ practiceId: PRACTICE, patient: withAccount.result.patient });
      assert.equal(lookedUp.secure, true);
      const sent = await plain.sendSpruceResult(withAccount);
      assert.equal(sent.alreadySent, false);
      const refused = await failureOf(plain.sendSpruceResult(resultRequest(labResult('p-doc-no'))));
      assert.equal(refused.type, ActivityErrorType.SPRUCE_NO_ACCOUNT, 'the documented refusal is the answer');
      assert.equal(refused.nonRetryable, true);
      await documented.idle();
    } finally {
      await documented.close();
    }
  });

  it('an outage is retryable; a refused request is SprucePermanentError; a refused token is a configuration error', async () => {
    seedPatient('p-out', true);
    fake.failures.startOutage(503);
    const outage = await failureOf(activities.sendSpruceResult(resultRequest(labResult('p-out'))));
    assert.equal(outage.type, SPRUCE_RETRYABLE_ERROR_TYPE);
    assert.equal(outage.nonRetryable, false);
    fake.failures.endOutage();

    fake.failNext({ kind: 'error', status: 400 }, 1, { path: '/messages$' });
    const refused = await failureOf(activities.sendSpruceResult(resultRequest(labResult('p-out'))));
    assert.equal(refused.type, ActivityErrorType.SPRUCE_PERMANENT);
    assert.equal(refused.nonRetryable, true);

    const wrongToken = spruceActivitiesForFake(db.pool, { spruceApiBaseUrl: fake.apiBaseUrl, token: 'not-the-token' });
    const auth = await failureOf(wrongToken.sendSpruceResult(resultRequest(labResult('p-out'))));
    assert.equal(auth.type, ActivityErrorType.CONFIGURATION);
  });

  it('pages a staff member: a note with a page element, IDs and the review link, no patient details; once', async () => {
    const request: PageRequest = {
      workflowId: `lab-result-${PRACTICE}-${'e'.repeat(32)}`,
      resultVersion: 1,
      step: 'page-oncall-critical',
      practiceId: PRACTICE,
      staffId: 'prov-oncall',
      reason: 'critical-result',
      urgency: 'high',
    };
    // As the worker builds them: the review app's public URL in the deps (worker/build-activity-deps.ts).
    const paging = spruceActivitiesForFake(db.pool, {
      spruceApiBaseUrl: fake.apiBaseUrl,
      token: TOKEN,
      reviewBaseUrl: 'http://127.0.0.1:3000/review/',
    });
    const paged = await paging.pageStaff(request);
    assert.equal(paged.alreadySent, false);
    assert.ok(!Number.isNaN(Date.parse(paged.pagedAt)));
    await fake.idle();
    const pages = fake.items().filter((i) => i.kind === 'page');
    assert.equal(pages.length, 1);
    assert.deepEqual(pages[0]?.pages, [ON_CALL_MEMBER]);
    assert.match(
      pages[0].text,
      /^URGENT: Critical lab result needs action\. Result lab-result-195900-e+\. Ref LLP-[0-9a-f]{12}\. Review: http:\/\/127\.0\.0\.1:3000\/review\/results\/lab-result-195900-e{32}$/,
    );
    assert.doesNotMatch(pages[0].text, /Potassium|Rivers|5\.9/);

    const again = await paging.pageStaff(request);
    assert.deepEqual(again, { ...paged, alreadySent: true }, 'the first page time is kept');
    await fake.idle();
    assert.equal(fake.items().filter((i) => i.kind === 'page').length, 1);
    const { rows } = await db.pool.query<{ action: string }>(
      `SELECT action FROM audit_log WHERE workflow_id = $1 ORDER BY seq`,
      [request.workflowId],
    );
    assert.deepEqual(
      rows.map((r) => r.action),
      ['send-intent', 'page'],
    );
  });

  it('paging someone without a Spruce member ID, or not on staff, is a configuration error', async () => {
    const base = {
      workflowId: `lab-result-${PRACTICE}-${'f'.repeat(32)}`,
      resultVersion: 1,
      practiceId: PRACTICE,
      reason: 'sign-off-reminder' as const,
      urgency: 'normal' as const,
    };
    const noMember = await failureOf(activities.pageStaff({ ...base, step: 'p1', staffId: 'staff-1' }));
    assert.equal(noMember.type, ActivityErrorType.CONFIGURATION);
    const stranger = await failureOf(activities.pageStaff({ ...base, step: 'p2', staffId: 'nobody' }));
    assert.equal(stranger.type, ActivityErrorType.CONFIGURATION);
    assert.equal(fake.items().length, 0);
  });
});
