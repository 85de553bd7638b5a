import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PriorRunSummary } from '../../domain/activity-contract';
import { contentDigest } from '../../workflows/content-digest';
import { labResultWorkflowId } from '../../workflows/definitions';
import { contentKey } from '../../workflows/intake';
import { CORRECTION_WINDOW_DAYS } from '../../workflows/lifecycle';
import { searchAttributes } from './support/assertions';
import { abnormalResult, newVersion, nextLocal, normalResult } from './support/fixtures';
import { workflowHarnessForSuite } from './support/harness';

const DAY_MS = 24 * 60 * 60_000;

/**
 * Versions after the first: corrections re-open the gate (a new sign-off, then an "updated result"
 * notice if the patient was told), re-deliveries change nothing, cancels stop pushes and close, and
 * a result that comes back after its workflow closed continues in a new run.
 */
describe('corrections, re-deliveries and cancels (time-skipping server)', () => {
  const h = workflowHarnessForSuite();

  it('a correction after the patient was told re-opens the gate, then sends an "updated result" notice', async () => {
    await h.scenario({ smsConsent: true }, async (s) => {
      await s.advanceToNext(2, '10:00');
      const v1 = normalResult();
      const handle = await s.start({ result: v1 });
      await s.signOff(handle);
      await s.untilNotified(handle);

      const corrected = newVersion(v1, {
        status: 'corrected',
        observations: [{ ...v1.observations[0], value: '91.2' }, v1.observations[1]],
      });
      await s.receive(handle, corrected);
      const regated = await s.untilStatus(handle, 're-gated', (v) => v.version === 2 && v.slaDeadline !== undefined);
      assert.equal(regated.state, 'awaiting-sign-off');
      assert.equal(regated.signed, false);
      await s.advance(30 * 60_000);
      await s.quiesce(150);
      assert.equal(s.world.sms().length, 1, 'nothing new before the new sign-off');

      const second = await s.signOff(handle, 'prov-2');
      assert.equal(second.alreadySigned, false);
      await s.untilStatus(handle, 'notified again', (v) => v.state === 'notified' && v.patientNotifiedVersion === 2);
      const sms = s.world.sms();
      assert.deepEqual(
        sms.map((m) => [m.input.resultVersion, m.input.template]),
        [
          [1, 'results-ready'],
          [2, 'updated-result'],
        ],
      );
      assert.equal(
        sms[1].input.body,
        'Hi Dana, an updated lab result is ready in your patient portal. Reply HELP for help.',
      );
      assert.equal(s.world.portal().length, 2);
      await s.quiesce(150);
      assert.ok(s.world.auditsOf('correction').some((a) => a.outcome === 're-gated'));
    });
  });

  it('a correction before sign-off re-classifies: normal becomes abnormal with the 1-business-hour SLA from its arrival', async () => {
    await h.scenario({ smsConsent: true }, async (s) => {
      const start = nextLocal(await s.nowMs(), 3, '09:00');
      await s.advanceTo(start.toMillis());
      const v1 = normalResult();
      const handle = await s.start({ result: v1, receivedAt: start.toUTC().toISO()! });
      await s.untilStatus(handle, 'deadline', (v) => v.slaDeadline === start.plus({ hours: 4 }).toUTC().toISO());
      await s.advanceTo(start.plus({ hours: 1 }).toMillis());
      await s.receive(handle, newVersion(v1, { status: 'corrected', observations: abnormalResult().observations }));
      const v = await s.untilStatus(
        handle,
        'abnormal deadline',
        (x) => x.acuity === 'abnormal' && x.slaDeadline !== undefined,
      );
      const arrived = Date.parse(v.actions.find((a) => a.kind === 'correction')!.at);
      assert.ok(
        Math.abs(Date.parse(v.slaDeadline!) - (arrived + 60 * 60_000)) < 5_000,
        'one business hour from the correction',
      );
    });
  });

  it('a re-delivery with the same content after notification sends nothing new; a duplicate message ID is ignored', async () => {
    await h.scenario({ smsConsent: true }, async (s) => {
      await s.advanceToNext(4, '10:00');
      const v1 = normalResult();
      const handle = await s.start({ result: v1 });
      await s.signOff(handle);
      await s.untilNotified(handle);
      await s.receive(handle, newVersion(v1));
      await s.receive(handle, v1);
      const v = await s.untilStatus(handle, 'version 2', (x) => x.version === 2);
      await s.quiesce(150);
      assert.equal(v.state, 'notified');
      assert.equal(v.signed, true, 'the signature covers identical content');
      assert.equal(s.world.sms().length, 1);
      assert.equal(s.world.portal().length, 1);
    });
  });

  it('a cancel before the held SMS went drops it and closes the workflow quietly', async () => {
    await h.scenario({ smsConsent: true }, async (s) => {
      await s.advanceToNext(2, '22:30');
      const v1 = normalResult({ patient: { ...normalResult().patient }, observations: normalResult().observations });
      const handle = await s.start({ result: v1 });
      await s.signOff(handle);
      await s.untilStatus(handle, 'held', (v) => v.deliveries.some((d) => d.status === 'held'));
      // The portal note went already, so a person is told about the cancel.
      await s.receive(handle, newVersion(v1, { status: 'cancelled' }));
      const final = await handle.result();
      assert.equal(final.state, 'closed');
      await s.advance(DAY_MS);
      await s.quiesce(150);
      assert.equal(s.world.sms().length, 0, 'the held SMS never went');
      assert.deepEqual(
        s.world.pages().map((p) => [p.input.staffId, p.input.reason]),
        [['prov-1', 'result-cancelled']],
      );
      assert.equal(s.world.callsOf('closeWorkflowPatient').length, 1);
      assert.ok(s.world.auditsOf('cancel').length === 1);
      // Closing is audited too (IDs, codes and a digest only), with why it closed.
      const closed = s.world.auditsOf('routing-decision').filter((a) => a.outcome === 'closed');
      assert.deepEqual(
        closed.map((a) => [a.details?.reason, a.details?.lastStatus, a.patientId]),
        [['cancelled', 'cancelled', 'MRN-500']],
      );
      assert.equal((await searchAttributes(handle)).state, 'closed');
    });
  });

  it('a version that names another patient is not merged: audited by ID, the administrator paged, the status says so', async () => {
    await h.scenario({ smsConsent: true }, async (s) => {
      await s.advanceToNext(2, '10:00');
      const v1 = normalResult();
      const handle = await s.start({ result: v1 });
      const before = await s.untilStatus(handle, 'awaiting', (v) => v.slaDeadline !== undefined);
      const other = newVersion(v1, {
        status: 'corrected',
        patient: { ...v1.patient, id: 'MRN-777', firstName: 'Other' },
        observations: abnormalResult().observations,
      });
      await s.receive(handle, other);
      await s.receive(handle, other); // a retransmission changes nothing more
      await s.receive(handle, newVersion(other, { status: 'cancelled' })); // nor does its cancel
      const v = await s.untilStatus(handle, 'the mismatch', (x) => x.patientMismatch?.count === 2);
      assert.deepEqual(
        [v.version, v.acuity, v.state, v.resultStatus, v.slaDeadline],
        [before.version, 'normal', 'awaiting-sign-off', 'final', before.slaDeadline],
        'the established result stands',
      );
      await s.eventually('the administrator page', () => s.world.pages().length === 1);
      assert.deepEqual(
        [s.world.pages()[0].input.staffId, s.world.pages()[0].input.reason],
        ['admin-1', 'patient-mismatch'],
      );
      await s.quiesce(150);
      const audits = s.world.auditsOf('routing-decision').filter((a) => a.outcome === 'patient-mismatch');
      assert.equal(audits.length, 2);
      assert.deepEqual(
        [audits[0].details?.establishedPatientId, audits[0].details?.receivedPatientId, audits[0].patientId],
        ['MRN-500', 'MRN-777', 'MRN-500'],
      );
      assert.ok(!JSON.stringify(audits).includes('Other'), 'IDs only');
      assert.equal(s.world.pages().length, 1, 'paged once');

      // The original result goes on as before.
      await s.signOff(handle);
      await s.untilNotified(handle);
      assert.deepEqual(
        s.world.sms().map((m) => [m.input.resultVersion, m.input.patientId]),
        [[1, 'MRN-500']],
      );
    });
  });

  it('a cancel of an unsigned result closes without paging anyone', async () => {
    await h.scenario({ smsConsent: true }, async (s) => {
      const v1 = normalResult();
      const handle = await s.start({ result: v1 });
      await s.untilStatus(handle, 'awaiting', (v) => v.state === 'awaiting-sign-off');
      await s.receive(handle, newVersion(v1, { status: 'cancelled' }));
      assert.equal((await handle.result()).state, 'closed');
      await s.quiesce(150);
      assert.equal(s.world.pages().length, 0);
    });
  });

  it(`stays open ${CORRECTION_WINDOW_DAYS} days after notifying, then closes; a later correction continues in a new run`, async () => {
    await h.scenario({ smsConsent: true }, async (s) => {
      await s.advanceToNext(2, '10:00');
      const v1 = normalResult();
      const workflowId = labResultWorkflowId('195900', 'c0ffee'.repeat(4));
      const first = await s.start({ result: v1, workflowId });
      await s.signOff(first);
      const notified = await s.untilNotified(first);
      assert.ok(notified.closesAt !== undefined);
      const closed = await first.result(); // the correction window passes on the skipping clock
      assert.equal(closed.state, 'closed');
      assert.ok((await s.nowMs()) - Date.parse(notified.actions.at(-1)!.at) >= CORRECTION_WINDOW_DAYS * DAY_MS - 5_000);

      // The second run reads what the first did (outbox, closing audit row) as findPriorRuns does.
      const corrected = newVersion(v1, {
        status: 'corrected',
        observations: [{ ...v1.observations[0], value: '95.5' }],
      });
      const second = await s.start({ result: corrected, workflowId });
      await s.untilStatus(second, 'the new run holds', (v) => v.state === 'awaiting-sign-off' && v.version === 2);
      await s.signOff(second);
      await s.untilNotified(second);
      assert.deepEqual(
        s.world.sms().map((m) => [m.input.resultVersion, m.input.template]),
        [
          [1, 'results-ready'],
          [2, 'updated-result'],
        ],
      );
    });
  });

  it('a plain re-delivery in a new run after the patient was told sends nothing', async () => {
    const result = normalResult({ signedOff: { providerId: 'prov-1' } });
    const workflowId = labResultWorkflowId('195900', 'feed'.repeat(6));
    // The earlier run told the patient about version 3 and closed on these very values.
    const prior: PriorRunSummary = {
      lastVersion: 3,
      patientNotifiedVersion: 3,
      lastContentDigest: contentDigest(workflowId, contentKey(result)),
      lastStatus: 'final',
      patientId: result.patient.id,
    };
    await h.scenario({ smsConsent: true, prior }, async (s) => {
      await s.advanceToNext(2, '10:00');
      const handle = await s.start({ result, workflowId });
      const v = await s.untilStatus(handle, 'settled', (x) => x.state === 'notified');
      assert.equal(v.version, 4);
      await s.quiesce(150);
      assert.equal(s.world.sms().length + s.world.portal().length, 0);
      assert.ok(s.world.auditsOf('routing-decision').some((a) => a.outcome === 'already-notified-earlier-run'));
    });
  });
});
