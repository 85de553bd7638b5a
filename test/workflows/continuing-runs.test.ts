import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import type { LabResult } from '../../domain/lab-result';
import { labResultWorkflowId } from '../../workflows/definitions';
import { abnormalResult, newVersion, normalResult } from './support/fixtures';
import { workflowHarnessForSuite, type LabHandle, type Scenario } from './support/harness';

/**
 * A result that comes back after its workflow closed continues in a new run under the same
 * workflow ID. The new run learns from findPriorRuns (here: the fake world's own outbox and audit
 * log, read as the real activity reads them) what the earlier run ended with: its last version's
 * content digest, status and patient. New values, even sent as "final", are a correction (a new
 * sign-off, then an "updated result" notice); another patient is refused; a source's left-over
 * "reviewed" flag never signs a correction (the two-key rule).
 */

const DAY_MS = 24 * 60 * 60_000;

function newWorkflowId(): string {
  return labResultWorkflowId('195900', randomBytes(10).toString('hex'));
}

/** Run a first version to the patient, then let the correction window close the run. */
async function firstRunToClose(s: Scenario, v1: LabResult, workflowId: string): Promise<LabHandle> {
  await s.advanceToNext(2, '10:00');
  const first = await s.start({ result: v1, workflowId });
  await s.signOff(first);
  await s.untilNotified(first);
  assert.equal((await first.result()).state, 'closed'); // 30 days pass on the skipping clock
  await s.quiesce(150);
  const closing = s.world.auditsOf('routing-decision').filter((a) => a.outcome === 'closed');
  assert.equal(closing.length, 1, 'closing the run is audited');
  assert.equal(closing[0].details?.reason, 'correction-window-over');
  const digest = closing[0].details?.contentDigest;
  assert.ok(typeof digest === 'string' && /^[0-9a-f]{64}$/.test(digest), 'a digest, never the values');
  assert.equal(closing[0].patientId, v1.patient.id);
  // Next morning, 10:00 in New York: inside the patient's messaging window.
  await s.advanceToNext(3, '10:00');
  return first;
}

/** Result notices (texts other than the invitation, Spruce threads, portal notes) by version and template. */
function notices(s: Scenario): [number, string][] {
  return [
    ...s.world.sms().map((m): [number, string] => [m.input.resultVersion, m.input.template]),
    ...s.world.portal().map((m): [number, string] => [m.input.resultVersion, 'portal']),
  ];
}

describe('a result that returns after its workflow closed (time-skipping server)', () => {
  const h = workflowHarnessForSuite();

  it('new values sent as "final" after close are a correction: held for a new sign-off, then an "updated result" notice', async () => {
    await h.scenario({ smsConsent: true }, async (s) => {
      const v1 = normalResult();
      const workflowId = newWorkflowId();
      await firstRunToClose(s, v1, workflowId);
      assert.deepEqual(s.world.priorRunsOf(workflowId).patientNotifiedVersion, 1);

      const changed = newVersion(v1, { status: 'final', observations: abnormalResult().observations });
      const second = await s.start({ result: changed, workflowId });
      const held = await s.untilStatus(second, 'held for sign-off', (v) => v.slaDeadline !== undefined);
      assert.deepEqual(
        [held.version, held.state, held.acuity, held.signed],
        [2, 'awaiting-sign-off', 'abnormal', false],
      );
      await s.advance(20 * 60_000);
      await s.quiesce(150);
      assert.deepEqual(notices(s), [
        [1, 'results-ready'],
        [1, 'portal'],
      ]);
      const correction = s.world.auditsOf('correction').find((a) => a.outcome === 're-gated');
      assert.equal(correction?.details?.afterEarlierRun, true, 'audited as a correction after the earlier run');

      await s.signOff(second, 'prov-2');
      await s.untilStatus(second, 'notified', (v) => v.state === 'notified' && v.patientNotifiedVersion === 2);
      await s.quiesce(150);
      assert.deepEqual(
        s.world.spruce().map((m) => [m.input.resultVersion, m.input.updated]),
        [[2, true]],
        'the secure thread says the result was updated',
      );
      assert.ok(!s.world.auditsOf('routing-decision').some((a) => a.outcome === 'already-notified-earlier-run'));
    });
  });

  it('a correction after close carrying the source flag of the version before is not signed by it (two-key rule)', async () => {
    await h.scenario({ smsConsent: true }, async (s) => {
      const v1 = normalResult();
      const workflowId = newWorkflowId();
      await firstRunToClose(s, v1, workflowId);
      const v1SignedAt = s.world.auditsOf('sign-off').find((a) => a.outcome === 'signed')!.occurredAt;

      // An HL7 feed that re-sends the reviewed flag (dated when version 1 was reviewed) on the correction.
      const corrected = newVersion(v1, {
        status: 'corrected',
        observations: [{ ...v1.observations[0], value: '131.7' }, v1.observations[1]],
        reportedAt: await s.nowIso(),
        signedOff: { providerId: 'prov-1', at: v1SignedAt },
      });
      const second = await s.start({ result: corrected, workflowId });
      const held = await s.untilStatus(second, 'held', (v) => v.slaDeadline !== undefined);
      assert.deepEqual([held.version, held.signed, held.state], [2, false, 'awaiting-sign-off']);
      await s.advance(60 * 60_000);
      await s.quiesce(150);
      const ignored = s.world.auditsOf('sign-off').filter((a) => a.outcome === 'stale-source-sign-off-ignored');
      assert.equal(ignored.length, 1);
      assert.equal(ignored[0].details?.reason, 'signed-before-correction');
      assert.equal(s.world.auditsOf('sign-off').filter((a) => a.outcome === 'signed').length, 1, 'only version 1');
      assert.deepEqual(notices(s), [
        [1, 'results-ready'],
        [1, 'portal'],
      ]);
      assert.ok(!s.world.auditsOf('release').some((a) => a.details?.version === 2), 'nothing released');

      await s.signOff(second);
      await s.untilStatus(second, 'notified', (v) => v.state === 'notified' && v.patientNotifiedVersion === 2);
      assert.deepEqual(
        notices(s).filter(([v]) => v === 2),
        [
          [2, 'updated-result'],
          [2, 'portal'],
        ],
      );
    });
  });

  it('the first version of a continuing run whose earlier content is unknown is a correction: a stale flag does not sign it', async () => {
    // An earlier run that closed before closing rows carried the content digest: only the outbox
    // speaks (versions, "told"), so even the same values cannot be told from a correction.
    await h.scenario({ smsConsent: true, prior: { lastVersion: 2, patientNotifiedVersion: 2 } }, async (s) => {
      await s.advanceToNext(2, '10:00');
      const reportedAt = await s.nowIso();
      const handle = await s.start({
        result: normalResult({
          status: 'corrected',
          reportedAt,
          signedOff: { providerId: 'prov-1', at: new Date(Date.parse(reportedAt) - DAY_MS).toISOString() },
        }),
      });
      const held = await s.untilStatus(handle, 'held', (v) => v.slaDeadline !== undefined);
      assert.deepEqual([held.version, held.signed], [3, false]);
      await s.advance(30 * 60_000);
      await s.quiesce(150);
      assert.ok(s.world.auditsOf('sign-off').some((a) => a.outcome === 'stale-source-sign-off-ignored'));
      assert.deepEqual(notices(s), [], 'no "updated result" notice without a provider');
      await s.signOff(handle);
      await s.untilNotified(handle);
      assert.deepEqual(notices(s), [
        [3, 'updated-result'],
        [3, 'portal'],
      ]);
    });
  });

  it('athena: a correction keeps athena\'s "reviewed" flag, which is undated, so it does not sign the correction', async () => {
    await h.scenario({ smsConsent: true }, async (s) => {
      await s.advanceToNext(2, '10:00');
      // athena's mapping: reviewed, but no time of the review (lib/clients/athena/mapping.ts).
      const v1 = normalResult({ source: 'athena', signedOff: { providerId: 'prov-1' }, reportedAt: await s.nowIso() });
      const handle = await s.start({ result: v1 });
      await s.untilNotified(handle);
      assert.equal((await s.status(handle)).signedBy, 'prov-1', 'a first version counts as signed by athena');

      await s.advance(2 * 60 * 60_000);
      const corrected = newVersion(v1, {
        status: 'corrected',
        observations: [{ ...v1.observations[0], value: '152.4' }, v1.observations[1]],
        reportedAt: await s.nowIso(),
      });
      await s.receive(handle, corrected);
      const held = await s.untilStatus(handle, 'held', (v) => v.version === 2 && v.slaDeadline !== undefined);
      assert.deepEqual([held.signed, held.state], [false, 'awaiting-sign-off']);
      // A later athena version of the same correction, still flagged reviewed: still undated.
      await s.receive(handle, newVersion(corrected, { comments: undefined }));
      await s.untilStatus(handle, 'version 3', (v) => v.version === 3);
      await s.advance(30 * 60_000);
      await s.quiesce(150);
      const ignored = s.world.auditsOf('sign-off').filter((a) => a.outcome === 'stale-source-sign-off-ignored');
      assert.deepEqual(
        ignored.map((a) => [a.details?.reason, a.actor.id]),
        [
          ['sign-off-undated', 'athena'],
          ['sign-off-undated', 'athena'],
        ],
      );
      assert.deepEqual(notices(s), [
        [1, 'results-ready'],
        [1, 'portal'],
      ]);
      await s.signOff(handle, 'prov-2');
      await s.untilStatus(handle, 'told again', (v) => v.state === 'notified' && v.patientNotifiedVersion === 3);
    });
  });

  it('athena after close: a changed result with the undated flag waits for a provider', async () => {
    await h.scenario({ smsConsent: true }, async (s) => {
      const v1 = normalResult({ source: 'athena' });
      const workflowId = newWorkflowId();
      await firstRunToClose(s, v1, workflowId);
      const changed = newVersion(v1, {
        observations: [{ ...v1.observations[0], value: '119.9' }, v1.observations[1]],
        reportedAt: await s.nowIso(),
        signedOff: { providerId: 'prov-1' },
      });
      const second = await s.start({ result: changed, workflowId });
      await s.untilStatus(second, 'held', (v) => v.version === 2 && v.slaDeadline !== undefined);
      await s.advance(30 * 60_000);
      await s.quiesce(150);
      assert.equal((await s.status(second)).signed, false);
      assert.ok(
        s.world
          .auditsOf('sign-off')
          .some((a) => a.outcome === 'stale-source-sign-off-ignored' && a.details?.reason === 'sign-off-undated'),
      );
      assert.equal(notices(s).length, 2, 'only version 1 was told');
    });
  });

  it('the same values re-delivered after close, signed by the source, tell nobody again', async () => {
    await h.scenario({ smsConsent: true }, async (s) => {
      const v1 = normalResult();
      const workflowId = newWorkflowId();
      await firstRunToClose(s, v1, workflowId);
      const again = newVersion(v1, { signedOff: { providerId: 'prov-1' } });
      const second = await s.start({ result: again, workflowId });
      const v = await s.untilStatus(second, 'settled', (x) => x.state === 'notified');
      assert.equal(v.version, 2);
      await s.quiesce(150);
      assert.equal(notices(s).length, 2, 'only the first run told the patient');
      assert.ok(s.world.auditsOf('routing-decision').some((a) => a.outcome === 'already-notified-earlier-run'));
      assert.ok(!s.world.auditsOf('correction').some((a) => a.details?.afterEarlierRun === true));
    });
  });

  it('a version naming another patient after close is refused: audited, the administrator paged, nothing sent, the run closes', async () => {
    await h.scenario({ smsConsent: true }, async (s) => {
      const v1 = normalResult();
      const workflowId = newWorkflowId();
      await firstRunToClose(s, v1, workflowId);
      const other = newVersion(v1, {
        status: 'corrected',
        patient: { ...v1.patient, id: 'MRN-909', firstName: 'Morgan' },
        observations: abnormalResult().observations,
        signedOff: { providerId: 'prov-1' },
      });
      const second = await s.start({ result: other, workflowId });
      const ended = await second.result();
      assert.equal(ended.state, 'closed');
      assert.equal(ended.patientMismatch?.count, 1);
      await s.quiesce(150);
      const mismatch = s.world.auditsOf('routing-decision').find((a) => a.outcome === 'patient-mismatch');
      assert.deepEqual(
        [mismatch?.patientId, mismatch?.details?.establishedPatientId, mismatch?.details?.receivedPatientId],
        ['MRN-500', 'MRN-500', 'MRN-909'],
      );
      assert.ok(!JSON.stringify(s.world.audits).includes('Morgan'), 'IDs only');
      assert.deepEqual(
        s.world.pages().map((p) => [p.input.staffId, p.input.reason]),
        [['admin-1', 'patient-mismatch']],
      );
      assert.equal(notices(s).length + s.world.spruce().length, 2, 'only the first run told its patient');
      assert.equal(s.world.reviewItems.get(workflowId)?.patientId, 'MRN-500', 'the review item is not taken over');
      // The run handed on what the earlier run ended with: the next one still knows the patient.
      const closing = s.world.auditsOf('routing-decision').filter((a) => a.outcome === 'closed');
      assert.deepEqual(
        closing.map((a) => [a.details?.reason, a.patientId]),
        [
          ['correction-window-over', 'MRN-500'],
          ['nothing-taken-in', 'MRN-500'],
        ],
      );
      assert.equal(closing[1].details?.contentDigest, closing[0].details?.contentDigest);
      assert.equal(s.world.priorRunsOf(workflowId).patientId, 'MRN-500');

      // The right patient's correction then continues normally.
      const third = await s.start({
        result: newVersion(v1, { status: 'corrected', observations: abnormalResult().observations }),
        workflowId,
      });
      const held = await s.untilStatus(third, 'held', (v) => v.slaDeadline !== undefined);
      assert.equal(held.version, 2, 'numbered after the first run (the refused one took no number)');
    });
  });
});
