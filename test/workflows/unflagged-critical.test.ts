import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertNoPhiAnywhere } from './support/assertions';
import { criticalResult, testPolicy } from './support/fixtures';
import { workflowHarnessForSuite } from './support/harness';

/**
 * Issue 13 §3: a panic value the lab did not flag. An unflagged potassium of 7.2 mmol/L is critical
 * by the practice's critical-value table (policy.valueRules): the on-call provider is paged at
 * once and a call task opened, and the patient is never texted. A policy snapshot without value
 * rules (a workflow started before them) still classifies by flags alone.
 */
describe('unflagged panic values (time-skipping server)', () => {
  const h = workflowHarnessForSuite();

  const unflaggedPotassium = () =>
    criticalResult({
      observations: [{ code: '2823-3', name: 'Potassium', value: '7.2', units: 'mmol/L', referenceRange: '3.5-5.1' }],
    });

  it('pages the on-call provider at once, opens a call task, and never texts', async () => {
    await h.scenario({ smsConsent: true, spruceSecure: true }, async (s) => {
      await s.advanceToNext(3, '02:10');
      const result = unflaggedPotassium();
      const policy = testPolicy();
      assert.ok(policy.valueRules !== undefined, 'the sandbox registry resolves value rules');
      const startedAt = await s.nowMs();
      const handle = await s.start({ result, policy });
      await s.untilStatus(
        handle,
        'call task open',
        (v) => v.state === 'critical-call' && v.callTasks?.[0]?.status === 'open',
      );
      const [pageCall] = s.world.pages();
      assert.deepEqual(
        [pageCall?.input.staffId, pageCall?.input.reason, pageCall?.input.urgency],
        ['prov-oncall', 'critical-result', 'high'],
      );
      assert.ok(pageCall.at - startedAt < 5_000, 'paged at once, in the middle of the night');
      assert.equal(s.world.callTasks()[0]?.input.assignToStaffId, 'prov-oncall');
      await s.quiesce(150);
      const classified = s.world.auditsOf('routing-decision').find((a) => a.outcome === 'classified-critical');
      assert.deepEqual(
        classified?.details?.drivers,
        ['0:critical-limit'],
        'the audit says why, without the value or the test',
      );

      await s.signOff(handle, 'prov-oncall');
      await s.advance(24 * 60 * 60_000);
      await s.quiesce(150);
      assert.equal(s.world.sms().length, 0, 'never texted');
      assert.equal(s.world.spruce().length + s.world.portal().length, 0, 'no automated patient message at all');
      await assertNoPhiAnywhere(s.world, handle, result);
    });
  });

  it('a policy snapshot without value rules (started before them) classifies by flags alone', async () => {
    await h.scenario({ smsConsent: true }, async (s) => {
      const { valueRules: _dropped, ...older } = testPolicy();
      const handle = await s.start({ result: unflaggedPotassium(), policy: older });
      await s.eventually('classified', () =>
        s.world.auditsOf('routing-decision').some((a) => a.outcome.startsWith('classified-')),
      );
      await s.quiesce(300);
      assert.equal(s.world.pages().length, 0, 'no page: the flags say normal');
      assert.deepEqual(
        s.world
          .auditsOf('routing-decision')
          .filter((a) => a.outcome.startsWith('classified-'))
          .map((a) => a.outcome),
        ['classified-normal'],
      );
      assert.notEqual((await s.status(handle)).state, 'critical-call');
    });
  });
});
