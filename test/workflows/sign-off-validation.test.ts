import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { signOffUpdate, type SignOffRequest } from '../../workflows/definitions';
import { retryable } from './support/fake-world';
import { criticalResult, newVersion, normalResult } from './support/fixtures';
import { workflowHarnessForSuite, type LabHandle } from './support/harness';

/**
 * The sign-off update's validator: a sign-off is bound to the version the provider saw
 * (`expectedVersion`), and a refused request changes nothing (it never reaches history).
 */

function refusedWith(pattern: RegExp) {
  return (err: unknown) => err instanceof WorkflowUpdateFailedError && pattern.test(String(err.cause?.message));
}

/** Workflow task bookkeeping (scheduled, started, completed): a validator runs in a workflow task too. */
const WORKFLOW_TASK_EVENTS = new Set([
  temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
  temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
  temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
]);

/** History events other than workflow-task bookkeeping: what an accepted update, signal or command adds. */
async function historyLength(handle: LabHandle): Promise<number> {
  const events = (await handle.fetchHistory()).events ?? [];
  return events.filter((e) => e.eventType == null || !WORKFLOW_TASK_EVENTS.has(e.eventType)).length;
}

function sign(handle: LabHandle, request: Partial<SignOffRequest>) {
  return handle.executeUpdate(signOffUpdate, {
    args: [{ providerId: 'prov-1', practiceId: '195900', via: 'review-app', ...request }],
  });
}

describe('sign-off validation (time-skipping server)', () => {
  const h = workflowHarnessForSuite();

  it('a correction between page view and sign: refused naming both versions, nothing changes; the new version signs', async () => {
    await h.scenario({ smsConsent: true }, async (s) => {
      await s.advanceToNext(2, '10:00');
      const v1 = normalResult();
      const handle = await s.start({ result: v1 });
      const shown = await s.untilStatus(handle, 'the page', (v) => v.state === 'awaiting-sign-off' && v.version === 1);
      // The lab corrects the value while the provider is looking at version 1 (still inside the
      // 70-140 reference range: an out-of-range value would now make version 2 abnormal, by value).
      await s.receive(
        handle,
        newVersion(v1, { status: 'corrected', observations: [{ ...v1.observations[0], value: '128.4' }] }),
      );
      const current = await s.untilStatus(handle, 'version 2', (v) => v.version === 2 && v.slaDeadline !== undefined);
      await s.quiesce(150);
      const before = await historyLength(handle);
      await assert.rejects(
        sign(handle, { expectedVersion: shown.version }),
        refusedWith(/it is now version 2, the page showed version 1/),
      );
      assert.equal(await historyLength(handle), before, 'a refused sign-off never reaches history');
      assert.deepEqual(await s.status(handle), current, 'and changes no state');
      assert.equal(s.world.auditsOf('sign-off').length, 0);
      assert.equal(s.world.sms().length + s.world.portal().length, 0);

      const signed = await sign(handle, { expectedVersion: 2 });
      assert.equal(signed.alreadySigned, false);
      await s.untilNotified(handle);
      assert.deepEqual(
        s.world.sms().map((m) => m.input.resultVersion),
        [2],
      );
    });
  });

  it('a re-delivery with the same content keeps the page valid; a version not seen yet, or none from the review app, is refused', async () => {
    await h.scenario({ smsConsent: true }, async (s) => {
      await s.advanceToNext(2, '10:00');
      const v1 = normalResult();
      const handle = await s.start({ result: v1 });
      await s.untilStatus(handle, 'awaiting', (v) => v.state === 'awaiting-sign-off');
      await s.receive(handle, newVersion(v1));
      await s.untilStatus(handle, 'version 2', (v) => v.version === 2);
      await assert.rejects(
        sign(handle, { expectedVersion: 3 }),
        refusedWith(/now version 2, the page showed version 3/),
      );
      await assert.rejects(sign(handle, {}), refusedWith(/expectedVersion is required/));
      // Version 1 and 2 carry the same values: what the provider saw is what is signed.
      const signed = await sign(handle, { expectedVersion: 1 });
      assert.equal(signed.signedBy, 'prov-1');
    });
  });

  it("version 0 (a page rendered before the run took its first message in) is that message: the run's first version", async () => {
    // A run continuing an earlier one (versions 1-3): its first version is 4, which a version-0 page showed.
    await h.scenario({ smsConsent: true, prior: { lastVersion: 3 } }, async (s) => {
      await s.advanceToNext(2, '10:00');
      const v1 = normalResult();
      const handle = await s.start({ result: v1 });
      await s.untilStatus(handle, 'version 4', (v) => v.version === 4 && v.slaDeadline !== undefined);
      await s.receive(
        handle,
        newVersion(v1, { status: 'corrected', observations: [{ ...v1.observations[0], value: '142.8' }] }),
      );
      await s.untilStatus(handle, 'version 5', (v) => v.version === 5 && v.slaDeadline !== undefined);
      await assert.rejects(
        sign(handle, { expectedVersion: 0 }),
        refusedWith(/it is now version 5, the page showed version 4/),
        'the values that page showed were corrected since',
      );
      await assert.rejects(sign(handle, { expectedVersion: 1 }), refusedWith(/the page showed version 1/));
      const signed = await sign(handle, { expectedVersion: 5 });
      assert.equal(signed.alreadySigned, false);
    });
    await h.scenario({ smsConsent: true, prior: { lastVersion: 3 } }, async (s) => {
      await s.advanceToNext(2, '10:00');
      const handle = await s.start({ result: normalResult() });
      await s.untilStatus(handle, 'version 4', (v) => v.version === 4 && v.slaDeadline !== undefined);
      const signed = await sign(handle, { expectedVersion: 0 });
      assert.equal(signed.signedBy, 'prov-1');
    });
  });

  it('athena and API sign-offs have no page: expectedVersion is optional for them', async () => {
    await h.scenario({ smsConsent: true }, async (s) => {
      await s.advanceToNext(2, '10:00');
      const handle = await s.start({ result: normalResult() });
      await s.untilStatus(handle, 'awaiting', (v) => v.state === 'awaiting-sign-off');
      const signed = await sign(handle, { via: 'athena', providerId: 'prov-2' });
      assert.equal(signed.signedBy, 'prov-2');
    });
  });

  it('a refused sign-off (not a provider) leaves no trace; a sign-off after the lab cancelled is refused', async () => {
    await h.scenario({ smsConsent: true }, async (s) => {
      await s.advanceToNext(2, '10:00');
      // athena is down, so the critical call task is still being created and the cancelled
      // workflow stays open (it keeps trying to reach a person): the update meets the cancel.
      s.world.faults.createCallTask = () => {
        throw retryable('athena unavailable');
      };
      const v1 = criticalResult();
      const handle = await s.start({ result: v1 });
      await s.untilStatus(
        handle,
        'creating',
        (v) => v.callTasks?.[0]?.status === 'creating' && v.criticalPagedAt !== undefined,
      );
      await s.quiesce(150);
      const open = await s.status(handle);
      const before = await historyLength(handle);
      await assert.rejects(sign(handle, { providerId: 'staff-1', expectedVersion: 1 }), refusedWith(/only a provider/));
      assert.equal(await historyLength(handle), before);
      assert.deepEqual(await s.status(handle), open);

      await s.receive(handle, newVersion(v1, { status: 'cancelled' }));
      await s.untilStatus(handle, 'cancelled', (v) => v.state === 'closed' && v.resultStatus === 'cancelled');
      await assert.rejects(
        sign(handle, { providerId: 'prov-oncall', expectedVersion: 2 }),
        refusedWith(/cancelled by the lab/),
      );
      assert.equal(s.world.auditsOf('sign-off').length, 0);
    });
  });
});
