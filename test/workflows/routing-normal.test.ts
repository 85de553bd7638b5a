import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import {
  annotateUpdate,
  consentChangedSignal,
  getResultDetailQuery,
  patientReplySignal,
  signOffUpdate,
} from '../../workflows/definitions';
import { assertNoPhiAnywhere, assertNothingBeforeSignOff, searchAttributes } from './support/assertions';
import { messageId, newVersion, nextLocal, normalResult, testPolicy, ZONE } from './support/fixtures';
import { workflowHarnessForSuite } from './support/harness';

/**
 * Routing table, normal rows, and the basic gate: nothing before sign-off, the generic SMS (in the
 * patient's messaging window) and the portal note after it, the consent invitation, the PHI guard.
 */
describe('normal results (time-skipping server)', () => {
  const h = workflowHarnessForSuite();

  it('consented: holds until a provider signs, then one generic SMS and a portal note, with no PHI anywhere', async () => {
    await h.scenario({ smsConsent: true }, async (s) => {
      const tue10 = nextLocal(await s.nowMs(), 2, '10:00');
      await s.advanceTo(tue10.toMillis());
      const result = normalResult();
      const handle = await s.start({ result, receivedAt: tue10.toUTC().toISO()! });
      const held = await s.untilStatus(handle, 'a sign-off deadline', (v) => v.slaDeadline !== undefined);
      assert.equal(held.state, 'awaiting-sign-off');
      assert.equal(held.slaDeadline, tue10.plus({ hours: 4 }).toUTC().toISO());
      const expectedAttributes = {
        practice: '195900',
        acuity: 'normal',
        state: 'awaiting-sign-off',
        slaDeadline: tue10.plus({ hours: 4 }).toUTC().toISO(),
      };
      await s.eventually('search attributes', async () => {
        const found = await searchAttributes(handle);
        return JSON.stringify(found) === JSON.stringify(expectedAttributes) || undefined;
      });
      const review = await s.eventually(
        'the review item',
        () =>
          s.world.reviewItems.get(handle.workflowId)?.slaDeadline !== undefined &&
          s.world.reviewItems.get(handle.workflowId),
      );
      assert.equal(review.signed, false);
      assert.equal(review.slaDeadline, held.slaDeadline);

      await s.advance(60 * 60_000);
      assert.equal(s.world.sms().length + s.world.portal().length, 0, 'nothing goes out before sign-off');

      const signedAt = await s.nowMs();
      const signed = await s.signOff(handle, 'prov-1', 'Everything looks fine.');
      assert.equal(signed.alreadySigned, false);
      assert.equal(signed.signedBy, 'prov-1');
      const again = await s.signOff(handle, 'prov-2');
      assert.deepEqual([again.alreadySigned, again.signedBy, again.signedAt], [true, 'prov-1', signed.signedAt]);

      const done = await s.untilNotified(handle);
      assert.equal(done.patientNotifiedVersion, 1);
      const [sms] = s.world.sms();
      assert.equal(s.world.sms().length, 1);
      assert.equal(sms.input.body, 'Hi Dana, your lab results are ready in your patient portal. Reply HELP for help.');
      assert.equal(sms.input.template, 'results-ready');
      assert.equal(sms.input.requiresConsent, true);
      assert.equal(s.world.portal().length, 1);
      assert.match(s.world.portal()[0].input.note, /Everything looks fine\./);
      await s.quiesce(150);
      assertNothingBeforeSignOff(s.world, signedAt);
      await s.eventually('search attributes after notifying', async () => {
        const found = await searchAttributes(handle);
        return (found.state === 'notified' && found.slaDeadline === undefined) || undefined;
      });
      assert.deepEqual(
        s.world.auditsOf('routing-decision').map((a) => a.outcome),
        ['classified-normal', 'sms-and-portal'],
      );
      assert.equal(s.world.auditsOf('sign-off').length, 1, 'a second sign-off is not a second event');
      await assertNoPhiAnywhere(s.world, handle, result);
    });
  });

  it('not consented, invitation on: portal note and one consent invitation; a YES then sends the results text', async () => {
    await h.scenario({ smsConsent: false }, async (s) => {
      await s.advanceToNext(3, '11:00');
      const handle = await s.start({ result: normalResult() });
      await s.signOff(handle);
      await s.eventually('the invitation', () => s.world.sms().length === 1);
      await s.untilNotified(handle);
      const [invite] = s.world.sms();
      assert.equal(invite.input.template, 'consent-invitation');
      assert.equal(invite.input.requiresConsent, false);
      assert.match(invite.input.body, /Reply YES to opt in, STOP to opt out/);
      assert.equal(s.world.portal().length, 1);
      await s.quiesce(150);
      assert.deepEqual(
        s.world
          .auditsOf('routing-decision')
          .map((a) => a.outcome)
          .at(-1),
        'portal-and-consent-invitation',
      );

      s.world.smsConsent = true;
      await handle.signal(consentChangedSignal, { smsConsent: true, source: 'invitation', at: await s.nowIso() });
      await s.eventually('the results text', () => s.world.sms().length === 2);
      assert.equal(s.world.sms()[1].input.template, 'results-ready');
      await s.quiesce();
      assert.equal(s.world.sms().length, 2);
      assert.equal(s.world.auditsOf('consent-change').length, 1);
    });
  });

  it('not consented, invitation off: portal only', async () => {
    await h.scenario({ smsConsent: false }, async (s) => {
      await s.advanceToNext(3, '11:00');
      const handle = await s.start({ result: normalResult(), policy: testPolicy({ smsConsentInvitation: false }) });
      await s.signOff(handle);
      await s.untilNotified(handle);
      await s.quiesce();
      assert.equal(s.world.sms().length, 0);
      assert.equal(s.world.portal().length, 1);
      assert.equal(s.world.auditsOf('routing-decision').at(-1)?.outcome, 'portal-only');
    });
  });

  it('signed at 22:10 local: the portal note goes at once, the SMS is held and goes at 08:00', async () => {
    await h.scenario({ smsConsent: true }, async (s) => {
      const at2210 = nextLocal(await s.nowMs(), 4, '22:10');
      await s.advanceTo(at2210.minus({ hours: 6 }).toMillis());
      const handle = await s.start({ result: normalResult() });
      await s.advanceTo(at2210.toMillis());
      await s.signOff(handle);
      const held = await s.untilStatus(handle, 'a held SMS', (v) => v.deliveries.some((d) => d.status === 'held'));
      const expected = at2210.plus({ days: 1 }).set({ hour: 8, minute: 0 });
      assert.equal(held.deliveries.find((d) => d.channel === 'sms')?.dueAt, expected.toUTC().toISO());
      assert.equal(s.world.portal().length, 1);
      assert.equal(s.world.sms().length, 0);
      await s.eventually('the hold audit', () =>
        s.world.auditsOf('hold').some((a) => a.outcome === 'held-quiet-hours'),
      );

      await s.advanceTo(expected.minus({ minutes: 1 }).toMillis());
      await s.quiesce(200);
      assert.equal(s.world.sms().length, 0, 'not a minute early');
      await s.advance(2 * 60_000);
      const [sms] = await s.eventually('the morning SMS', () =>
        s.world.sms().length === 1 ? s.world.sms() : undefined,
      );
      // Scheduled by the workflow task that the 08:00 timer woke (plus milliseconds of processing).
      const lateBy = sms.at - expected.toMillis();
      assert.ok(lateBy >= 0 && lateBy < 5_000, `SMS scheduled ${lateBy} ms after 08:00`);
      const local = new Date(sms.at).toLocaleTimeString('en-US', { timeZone: ZONE, hour12: false });
      assert.equal(local, '08:00:00');
    });
  });

  it('a signed preliminary waits for the final; a final with the same values is announced on that sign-off', async () => {
    await h.scenario({ smsConsent: true }, async (s) => {
      await s.advanceToNext(1, '09:00');
      const prelim = normalResult({ status: 'preliminary' });
      const handle = await s.start({ result: prelim });
      await s.untilStatus(handle, 'awaiting final', (v) => v.state === 'awaiting-final');
      const signed = await s.signOff(handle, 'prov-1');
      assert.equal(signed.state, 'awaiting-final', 'signed, and still waiting for the final');
      await s.advance(6 * 60 * 60_000);
      await s.quiesce(200);
      assert.equal(s.world.sms().length + s.world.portal().length, 0, 'a preliminary is never announced');
      assert.ok(s.world.auditsOf('hold').some((a) => a.outcome === 'signed-awaiting-final'));

      // The final carries the same values: the provider signed exactly this content.
      await s.receive(handle, newVersion(prelim, { status: 'final' }));
      const done = await s.untilNotified(handle);
      assert.deepEqual([done.version, done.signedBy], [2, 'prov-1']);
      assert.deepEqual(
        s.world.sms().map((m) => m.input.resultVersion),
        [2],
      );
      await s.quiesce(150);
      assert.equal(s.world.auditsOf('sign-off').length, 1, 'no second sign-off was needed');
    });
  });

  it('a sign-off on a preliminary does not count for a final whose values differ: it waits for a new sign-off', async () => {
    await h.scenario({ smsConsent: true }, async (s) => {
      await s.advanceToNext(1, '09:00');
      const prelim = normalResult({ status: 'preliminary' });
      const handle = await s.start({ result: prelim });
      await s.untilStatus(handle, 'awaiting final', (v) => v.state === 'awaiting-final');
      await s.signOff(handle, 'prov-1');
      await s.receive(
        handle,
        newVersion(prelim, { status: 'final', observations: [{ ...prelim.observations[0], value: '128.4' }] }),
      );
      const regated = await s.untilStatus(
        handle,
        'unsigned final',
        (v) => v.version === 2 && v.slaDeadline !== undefined,
      );
      assert.deepEqual([regated.state, regated.signed], ['awaiting-sign-off', false]);
      await s.advance(60 * 60_000);
      await s.quiesce(150);
      assert.equal(s.world.sms().length + s.world.portal().length, 0, 'nothing on the preliminary sign-off');
      await s.signOff(handle, 'prov-2');
      const done = await s.untilNotified(handle);
      assert.deepEqual([done.signedBy, s.world.sms().length, s.world.sms()[0].input.resultVersion], ['prov-2', 1, 2]);
    });
  });

  it('a preliminary waits for the final; athena sign-off on the final releases it at once', async () => {
    await h.scenario({ smsConsent: true }, async (s) => {
      await s.advanceToNext(1, '09:00');
      const prelim = normalResult({ status: 'preliminary' });
      const handle = await s.start({ result: prelim });
      await s.untilStatus(handle, 'awaiting final', (v) => v.state === 'awaiting-final');
      await s.advance(6 * 60 * 60_000);
      await s.quiesce(200);
      assert.equal(s.world.pages().length, 0, 'no SLA runs while preliminary');
      assert.equal(s.world.sms().length, 0);

      await s.receive(
        handle,
        newVersion(prelim, { status: 'final', signedOff: { providerId: 'prov-2', at: await s.nowIso() } }),
      );
      const done = await s.untilNotified(handle);
      await s.quiesce(150);
      assert.equal(done.signedBy, 'prov-2');
      assert.equal(done.version, 2);
      assert.equal(s.world.sms().length, 1);
      assert.equal(s.world.sms()[0].input.resultVersion, 2);
      assert.equal(s.world.auditsOf('sign-off')[0]?.actor.type, 'source');
    });
  });

  it('refuses sign-off from staff who are not providers, from another practice, and ignores a retransmission', async () => {
    await h.scenario({ smsConsent: true }, async (s) => {
      const result = normalResult();
      const handle = await s.start({ result });
      await s.untilStatus(handle, 'awaiting sign-off', (v) => v.state === 'awaiting-sign-off');
      await assert.rejects(
        handle.executeUpdate(signOffUpdate, {
          args: [{ providerId: 'staff-1', practiceId: '195900', via: 'review-app' }],
        }),
        (err: unknown) =>
          err instanceof WorkflowUpdateFailedError && /only a provider can sign/.test(String(err.cause?.message)),
      );
      await assert.rejects(
        handle.executeUpdate(signOffUpdate, { args: [{ providerId: 'prov-1', practiceId: 'other', via: 'api' }] }),
        (err: unknown) =>
          err instanceof WorkflowUpdateFailedError && /another practice/.test(String(err.cause?.message)),
      );
      await assert.rejects(
        handle.executeUpdate(signOffUpdate, { args: [{ providerId: 'nobody', practiceId: '195900', via: 'api' }] }),
        (err: unknown) =>
          err instanceof WorkflowUpdateFailedError && /not on this practice's staff/.test(String(err.cause?.message)),
      );
      await s.receive(handle, result); // same message ID: a retransmission
      const v = await s.status(handle);
      assert.equal(v.version, 1);
      assert.equal(v.signed, false);
      assert.equal(s.world.auditsOf('sign-off').length, 0);
    });
  });

  it('annotations are validated, audited without their text, and only the detail query carries them', async () => {
    await h.scenario({ smsConsent: true }, async (s) => {
      const handle = await s.start({ result: normalResult() });
      await s.untilStatus(handle, 'awaiting sign-off', (v) => v.state === 'awaiting-sign-off');
      const added = await handle.executeUpdate(annotateUpdate, {
        args: [{ providerId: 'staff-1', practiceId: '195900', text: 'Called lab to confirm.' }],
      });
      assert.equal(added.annotations, 1);
      await assert.rejects(
        handle.executeUpdate(annotateUpdate, { args: [{ providerId: 'staff-1', practiceId: '195900', text: '   ' }] }),
        (err: unknown) =>
          err instanceof WorkflowUpdateFailedError && /must not be empty/.test(String(err.cause?.message)),
      );
      const detail = await handle.query(getResultDetailQuery);
      assert.deepEqual(
        detail.annotations.map((a) => [a.providerId, a.text]),
        [['staff-1', 'Called lab to confirm.']],
      );
      assert.equal(detail.result.patient.firstName, 'Dana');
      assert.ok(!JSON.stringify(await s.status(handle)).includes('Called lab'));
      await s.quiesce(150);
      const [audit] = s.world.auditsOf('annotation');
      assert.equal(audit?.actor.type, 'staff');
      assert.ok(!JSON.stringify(audit).includes('Called lab'));
    });
  });

  it('STOP while the SMS is held for the morning cancels it; the portal note stands', async () => {
    await h.scenario({ smsConsent: true }, async (s) => {
      await s.advanceToNext(5, '21:30');
      const handle = await s.start({ result: normalResult() });
      await s.signOff(handle);
      await s.untilStatus(handle, 'held', (v) => v.deliveries.some((d) => d.status === 'held'));
      await handle.signal(patientReplySignal, { channel: 'sms', kind: 'stop', at: await s.nowIso() });
      await s.advance(12 * 60 * 60_000);
      await s.quiesce(150);
      assert.equal(s.world.sms().length, 0);
      assert.equal(s.world.portal().length, 1);
      const v = await s.status(handle);
      assert.equal(v.state, 'notified');
      assert.ok(s.world.auditsOf('consent-change').some((a) => a.outcome === 'revoked'));
      assert.ok(s.world.auditsOf('hold').some((a) => a.outcome === 'send-cancelled-consent-revoked'));
    });
  });

  it('PHI guard: a greeting that would name a test is rewritten to the generic body, audited, and the detail goes to Spruce', async () => {
    await h.scenario({ smsConsent: true, spruceSecure: true }, async (s) => {
      await s.advanceToNext(2, '12:00');
      const result = normalResult({
        messageId: messageId(),
        patient: { ...normalResult().patient, firstName: 'Crystal' },
        observations: [{ code: '5767-9', name: 'Crystal', value: 'None seen', flag: 'N' }],
      });
      const handle = await s.start({ result });
      await s.signOff(handle);
      await s.untilNotified(handle);
      await s.quiesce(150);
      assert.equal(
        s.world.sms()[0].input.body,
        'Hi, your lab results are ready in your patient portal. Reply HELP for help.',
      );
      const [rewrite] = s.world.auditsOf('phi-rewrite');
      assert.equal(rewrite?.outcome, 'rewritten');
      assert.deepEqual(rewrite?.details?.findings, ['test-name@0']);
      assert.equal(s.world.spruce().length, 1, 'the detail goes to the secure channel');
    });
  });
});
